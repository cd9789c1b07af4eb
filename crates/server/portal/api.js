// Calls to Courier's API with the portal session's cookie: every change carries the session's
// CSRF token, errors come back with their message and the problems at their JSON paths, and a
// connection test's steps are read from its event stream as they arrive.
export class ApiError extends Error {
    status;
    problems;
    constructor(message, status, problems) {
        super(message);
        this.status = status;
        this.problems = problems;
    }
}
let csrf = "";
/** The token every change must carry (from `GET /api/v1/portal/session`). */
export function useCsrf(token) {
    csrf = token;
}
function headers(method, body) {
    const out = { accept: "application/json" };
    if (method !== "GET")
        out["x-courier-csrf"] = csrf;
    if (body !== undefined)
        out["content-type"] = "application/json";
    return out;
}
export async function call(method, path, body) {
    const response = await fetch(path, {
        method,
        headers: headers(method, body),
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204)
        return undefined;
    const data = (await response.json().catch(() => null));
    if (!response.ok) {
        const error = data?.error;
        throw new ApiError(error?.message ?? response.statusText, response.status, error?.details ?? []);
    }
    return data;
}
/** Every item of a listing, page by page (`path` takes `?limit=&cursor=`). */
export async function allPages(path) {
    const all = [];
    let cursor = null;
    do {
        const query = cursor ? `?limit=500&cursor=${encodeURIComponent(cursor)}` : "?limit=500";
        const page = await call("GET", `${path}${query}`);
        all.push(...page.data);
        cursor = page.next_cursor;
    } while (cursor);
    return all;
}
/** POSTs `body` to `path` and hands each event of the answer's stream to `each` as it comes. */
export async function stream(path, body, each) {
    const response = await fetch(path, {
        method: "POST",
        headers: { ...headers("POST", body), accept: "text/event-stream" },
        credentials: "same-origin",
        body: JSON.stringify(body ?? {}),
    });
    if (!response.ok || !response.body) {
        const data = (await response.json().catch(() => null));
        throw new ApiError(data?.error?.message ?? response.statusText, response.status, data?.error?.details ?? []);
    }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
        const { value, done } = await reader.read();
        if (done)
            break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            let event = "message";
            const data = [];
            for (const line of block.split("\n")) {
                if (line.startsWith("event:"))
                    event = line.slice(6).trim();
                else if (line.startsWith("data:"))
                    data.push(line.slice(5).trimStart());
            }
            if (data.length === 0)
                continue; // a keep-alive comment
            let parsed = data.join("\n");
            try {
                parsed = JSON.parse(parsed);
            }
            catch {
                // kept as text
            }
            each({ event, data: parsed });
        }
    }
}
