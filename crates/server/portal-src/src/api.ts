// Calls to Courier's API with the portal session's cookie: every change carries the session's
// CSRF token, errors come back with their message and the problems at their JSON paths, and a
// connection test's steps are read from its event stream as they arrive.

export interface Problem {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly problems: Problem[],
  ) {
    super(message);
  }
}

let csrf = "";

/** The token every change must carry (from `GET /api/v1/portal/session`). */
export function useCsrf(token: string): void {
  csrf = token;
}

function headers(method: string, body: unknown): Record<string, string> {
  const out: Record<string, string> = { accept: "application/json" };
  if (method !== "GET") out["x-courier-csrf"] = csrf;
  if (body !== undefined) out["content-type"] = "application/json";
  return out;
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method,
    headers: headers(method, body),
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return undefined as T;
  const data = (await response.json().catch(() => null)) as
    | { error?: { message?: string; details?: Problem[] } }
    | null;
  if (!response.ok) {
    const error = data?.error;
    throw new ApiError(error?.message ?? response.statusText, response.status, error?.details ?? []);
  }
  return data as T;
}

/** Every item of a listing, page by page (`path` takes `?limit=&cursor=`). */
export async function allPages<T>(path: string): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor ? `?limit=500&cursor=${encodeURIComponent(cursor)}` : "?limit=500";
    const page: { data: T[]; next_cursor: string | null } = await call("GET", `${path}${query}`);
    all.push(...page.data);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

/** One server-sent event: its name and its data, parsed. */
export interface StreamEvent {
  event: string;
  data: unknown;
}

/** POSTs `body` to `path` and hands each event of the answer's stream to `each` as it comes. */
export async function stream(path: string, body: unknown, each: (e: StreamEvent) => void): Promise<void> {
  const response = await fetch(path, {
    method: "POST",
    headers: { ...headers("POST", body), accept: "text/event-stream" },
    credentials: "same-origin",
    body: JSON.stringify(body ?? {}),
  });
  if (!response.ok || !response.body) {
    const data = (await response.json().catch(() => null)) as { error?: { message?: string; details?: Problem[] } } | null;
    throw new ApiError(data?.error?.message ?? response.statusText, response.status, data?.error?.details ?? []);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length === 0) continue; // a keep-alive comment
      let parsed: unknown = data.join("\n");
      try {
        parsed = JSON.parse(parsed as string);
      } catch {
        // kept as text
      }
      each({ event, data: parsed });
    }
  }
}
