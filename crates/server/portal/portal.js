// The destinations portal: reads the session (its workspace, capabilities, theme and CSRF
// token), applies the theme, and lists the workspace's destinations. Every value from the
// server is written as text, never as markup.
"use strict";

const api = {
  csrf: "",
  async call(method, path, body) {
    const headers = { accept: "application/json" };
    if (method !== "GET") headers["x-courier-csrf"] = this.csrf;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const message = data && data.error ? data.error.message : response.statusText;
      throw new Error(message);
    }
    return data;
  },
};

function applyTheme(theme, returnUrl) {
  const root = document.documentElement;
  root.dataset.mode = theme.mode || "auto";
  if (theme.accent_color) root.style.setProperty("--accent", theme.accent_color);
  if (theme.name) {
    document.getElementById("title").textContent = theme.name;
    document.title = `${theme.name} · Destinations`;
  }
  if (theme.logo_url) {
    const logo = document.getElementById("logo");
    logo.src = theme.logo_url;
    logo.alt = theme.name ? `${theme.name} logo` : "Logo";
    logo.hidden = false;
  }
  if (returnUrl) {
    const back = document.getElementById("back");
    back.href = returnUrl;
    back.hidden = false;
  }
}

function showDestinations(page) {
  const table = document.getElementById("destinations");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  for (const d of page.data) {
    const row = document.createElement("tr");
    for (const value of [d.name, d.destination_type, d.status, d.enabled ? "yes" : "no"]) {
      const cell = document.createElement("td");
      cell.textContent = String(value ?? "");
      row.append(cell);
    }
    body.append(row);
  }
  table.hidden = page.data.length === 0;
  document.getElementById("empty").hidden = page.data.length !== 0;
}

async function start() {
  const status = document.getElementById("status");
  try {
    const session = await api.call("GET", "/api/v1/portal/session");
    api.csrf = session.csrf_token;
    applyTheme(session.theme || {}, session.return_url);
    const ws = encodeURIComponent(session.workspace_id);
    showDestinations(await api.call("GET", `/api/v1/workspaces/${ws}/destinations`));
    status.textContent = session.capabilities.read_only ? "Read only." : "";
  } catch (error) {
    status.textContent = `The portal could not load: ${error.message}`;
  }
  document.getElementById("sign-out").addEventListener("click", async () => {
    try {
      await api.call("DELETE", "/api/v1/portal/session");
      status.textContent = "Signed out.";
      document.getElementById("destinations").hidden = true;
    } catch (error) {
      status.textContent = `Signing out failed: ${error.message}`;
    }
  });
}

start();
