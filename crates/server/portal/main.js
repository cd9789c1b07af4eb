// The destinations portal: reads its session (workspace, capabilities, theme), applies the
// theme, lists the workspace's destinations and, unless the session is read only, creates,
// edits, tests (each step shown as it finishes), enables, disables and deletes them, with
// every form drawn from the catalog's JSON Schemas. Values from the server are written as
// text, never as markup.
import { allPages, ApiError, call, stream, useCsrf } from "./api.js";
import { showDeliveries } from "./deliveries.js";
import { showRoutes } from "./routes.js";
import { button, el } from "./dom.js";
import { render, showProblems } from "./render.js";
import { formOf } from "./schema.js";
import { collect, fill } from "./state.js";
let session;
let connectors = [];
/** The catalog, read once: every form's schemas and what each type can do. */
let catalog;
/** The destinations last listed, by id. */
let known = new Map();
/** The destinations last listed. */
let listed = [];
const $ = (id) => document.getElementById(id);
function say(message) {
    $("status").textContent = message;
}
function ws(rest) {
    return `/api/v1/workspaces/${encodeURIComponent(session.workspace_id)}${rest}`;
}
function applyTheme() {
    const theme = session.theme;
    const root = document.documentElement;
    root.dataset["mode"] = theme.mode ?? "auto";
    if (theme.accent_color) {
        root.style.setProperty("--accent", theme.accent_color);
        // Text on the accent is black or white, whichever reads better on it.
        root.style.setProperty("--on-accent", readableOn(theme.accent_color));
    }
    if (theme.name) {
        $("title").textContent = theme.name;
        document.title = `${theme.name} · Destinations`;
    }
    if (theme.logo_url) {
        const logo = $("logo");
        logo.src = theme.logo_url;
        logo.alt = theme.name ? `${theme.name} logo` : "Logo";
        logo.hidden = false;
    }
    if (session.return_url) {
        const back = $("back");
        back.href = session.return_url;
        back.hidden = false;
    }
}
/** Black or white, whichever has the higher contrast on `#rrggbb` (WCAG relative luminance). */
export function readableOn(hex) {
    const channel = (i) => {
        const c = parseInt(hex.slice(i, i + 2), 16) / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    const luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
    // Contrast with white: 1.05 / (L + 0.05); with black: (L + 0.05) / 0.05.
    return 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 ? "#ffffff" : "#000000";
}
function readCatalog() {
    catalog ??= call("GET", "/api/v1/catalog/connectors").then((c) => (connectors = c.connectors));
    return catalog;
}
async function showList() {
    // A workspace holds at most a few thousand.
    listed = await allPages(ws("/destinations"));
    known = new Map(listed.map((d) => [d.id, d.name]));
    drawList();
}
/** Draws the destinations last listed; OAuth's "Connect" appears once the catalog is read. */
function drawList() {
    const body = $("destinations").querySelector("tbody");
    body.replaceChildren();
    for (const d of listed) {
        const actions = el("td", { class: "actions" });
        if (!session.capabilities.read_only) {
            actions.append(button("Edit", () => void openForm(d), "", `Edit ${d.name}`), button("Test", () => void runTest(d), "secondary", `Test ${d.name}`), button(d.is_active ? "Disable" : "Enable", () => void setActive(d, !d.is_active), "secondary", `${d.is_active ? "Disable" : "Enable"} ${d.name}`));
            if (connectors.find((c) => c.type === d.destination_type)?.capabilities?.oauth) {
                const text = d.has_oauth_tokens ? "Reconnect" : "Connect";
                actions.append(button(text, () => void connect(d), "secondary", `${text} ${d.name}`));
            }
            if (d.has_signing_secret) {
                actions.append(button("Rotate secret", () => void rotate(d), "secondary", `Rotate secret of ${d.name}`));
            }
            actions.append(button("Delete", () => void remove(d), "danger", `Delete ${d.name}`));
        }
        const last = d.last_delivery_at ? `${d.last_delivery_status ?? ""} ${new Date(d.last_delivery_at).toLocaleString()}` : "—";
        const failures = d.failing_since
            ? `${d.failed_count}, failing since ${new Date(d.failing_since).toLocaleString()}`
            : String(d.failed_count);
        body.append(el("tr", { "data-destination": d.id }, el("th", { scope: "row" }, d.name), el("td", {}, d.destination_type), el("td", {}, d.status + (d.status_error ? ` (${d.status_error})` : "")), el("td", {}, d.is_active ? "yes" : "no"), el("td", {}, last), el("td", { "data-failed": String(d.failed_count) }, failures), actions));
    }
    $("destinations").hidden = listed.length === 0;
    $("empty").hidden = listed.length !== 0;
}
/** The form of a new destination (`existing` absent) or of one to edit. */
async function openForm(existing) {
    // The catalog (every form's schemas) is read when a form is first opened, not before the
    // list is drawn.
    if (connectors.length === 0) {
        try {
            await readCatalog();
        }
        catch (error) {
            catalog = undefined;
            say(`The destination types could not be read: ${error.message}`);
            return;
        }
    }
    const panel = $("editor");
    panel.replaceChildren();
    panel.hidden = false;
    const heading = el("h2", { id: "editor-heading", tabindex: "-1" }, existing ? `Edit ${existing.name}` : "New destination");
    panel.append(heading);
    const form = el("form", { novalidate: "", "aria-labelledby": "editor-heading" });
    panel.append(form);
    const slots = new Map();
    const nameId = "destination-name";
    const name = el("input", { id: nameId, name: "name", type: "text", required: "", "aria-describedby": "name-problem" });
    name.value = existing?.name ?? "";
    const nameProblem = el("p", { id: "name-problem", class: "problem", role: "alert", hidden: "" });
    slots.set("/name", nameProblem);
    form.append(el("div", { class: "field" }, el("label", { for: nameId }, "Name *"), name, nameProblem));
    const typeSelect = el("select", { id: "destination-type", name: "destination_type" });
    for (const c of connectors)
        typeSelect.append(el("option", { value: c.type }, c.label));
    if (existing) {
        typeSelect.value = existing.destination_type;
        typeSelect.disabled = true;
    }
    const typeProblem = el("p", { id: "type-problem", class: "problem", role: "alert", hidden: "" });
    slots.set("/destination_type", typeProblem);
    form.append(el("div", { class: "field" }, el("label", { for: "destination-type" }, "Type"), typeSelect, typeProblem));
    // A new destination may start from one of its connector's examples.
    const exampleSelect = el("select", { id: "destination-example", name: "example" });
    const exampleField = el("div", { class: "field" }, el("label", { for: "destination-example" }, "Start from an example"), exampleSelect);
    if (!existing)
        form.append(exampleField);
    let example;
    const parts = el("div", { class: "parts" });
    form.append(parts);
    let forms;
    const listExamples = () => {
        const connector = connectors.find((c) => c.type === typeSelect.value);
        exampleSelect.replaceChildren(el("option", { value: "-1" }, "None: an empty form"));
        (connector?.examples ?? []).forEach((e, i) => exampleSelect.append(el("option", { value: String(i) }, e.name)));
        exampleField.hidden = (connector?.examples ?? []).length === 0;
    };
    exampleSelect.addEventListener("change", () => {
        const connector = connectors.find((c) => c.type === typeSelect.value);
        const chosen = connector?.examples?.[Number(exampleSelect.value)];
        example = chosen;
        if (chosen && !name.value.trim())
            name.value = chosen.name;
        draw();
    });
    typeSelect.addEventListener("change", () => {
        example = undefined;
        listExamples();
    });
    listExamples();
    const draw = () => {
        parts.replaceChildren();
        for (const key of [...slots.keys()]) {
            if (key.startsWith("/config") || key.startsWith("/auth_config"))
                slots.delete(key);
        }
        const connector = connectors.find((c) => c.type === typeSelect.value);
        if (!connector)
            return;
        const config = formOf(connector.config_schema);
        const auth = formOf(connector.auth_config_schema);
        const configState = fill(config, existing?.config ?? example?.config ?? undefined);
        const authState = fill(auth, existing ? undefined : (example?.auth_config ?? undefined));
        if (existing?.has_auth_config)
            markStored(auth, authState);
        forms = { config: [config, configState], auth: [auth, authState] };
        parts.append(el("p", { class: "help" }, connector.description), section("Settings", render({ ...config, label: "Settings" }, configState, "/config", slots)), section("Credentials", render({ ...auth, label: "Credentials" }, authState, "/auth_config", slots)));
    };
    typeSelect.addEventListener("change", draw);
    draw();
    const save = el("button", { type: "submit" }, existing ? "Save changes" : "Create destination");
    const cancel = button("Cancel", () => {
        panel.hidden = true;
        panel.replaceChildren();
    }, "secondary");
    const formProblem = el("p", { class: "problem", role: "alert", hidden: "" });
    form.append(el("div", { class: "buttons" }, save, cancel), formProblem);
    form.addEventListener("submit", (event) => {
        event.preventDefault();
        void submit();
    });
    heading.focus();
    async function submit() {
        if (!forms)
            return;
        const configProblems = [];
        const config = collect(forms.config[0], forms.config[1], configProblems) ?? {};
        const authProblems = [];
        const auth = collect(forms.auth[0], forms.auth[1], authProblems);
        const placed = [
            ...configProblems.map((p) => ({ ...p, path: `/config${p.path}` })),
            ...authProblems.map((p) => ({ ...p, path: `/auth_config${p.path}` })),
        ];
        if (!name.value.trim())
            placed.push({ path: "/name", message: "is required" });
        if (placed.length > 0) {
            showAll(placed);
            return;
        }
        const body = { name: name.value.trim(), config };
        if (auth !== undefined && Object.keys(auth).length > 0)
            body["auth_config"] = auth;
        try {
            if (existing) {
                await call("PATCH", ws(`/destinations/${encodeURIComponent(existing.id)}`), body);
                say(`Saved ${body["name"]}.`);
            }
            else {
                body["destination_type"] = typeSelect.value;
                const made = await call("POST", ws("/destinations"), body);
                say(`Created ${made.name}.`);
                if (made.signing_secret)
                    showOnce("Signing secret", made.signing_secret);
            }
            panel.hidden = true;
            panel.replaceChildren();
            await showList();
        }
        catch (error) {
            if (error instanceof ApiError && error.problems.length > 0)
                showAll(error.problems);
            else
                showAll([{ path: "", message: error.message }]);
        }
    }
    function showAll(problems) {
        const unplaced = showProblems(slots, problems);
        formProblem.hidden = unplaced.length === 0;
        formProblem.textContent = unplaced.join("; ");
        const first = form.querySelector(".problem:not([hidden])");
        first?.closest(".field, fieldset")?.querySelector("input, select, textarea")?.focus();
    }
}
function section(title, content) {
    return el("section", { class: "part", "aria-label": title }, el("h3", {}, title), content);
}
/** Marks every secret of an edited destination as stored: it is shown as "stored — replace". */
function markStored(field, state) {
    const kind = field.kind;
    if (kind.type === "text" && state.kind === "text" && kind.secret)
        state.stored = true;
    if (kind.type === "object" && state.kind === "object") {
        for (const inner of kind.fields) {
            const s = state.fields[inner.key];
            if (s)
                markStored(inner, s);
        }
    }
}
/** Shows a secret once, to be copied; it cannot be read again. */
function showOnce(label, secret) {
    const box = $("once");
    box.replaceChildren(el("h2", {}, label), el("p", {}, "Copy it now: it is shown only this once."), el("code", { id: "once-value" }, secret), button("Copy", () => void navigator.clipboard?.writeText(secret)), button("Done", () => {
        box.hidden = true;
        box.replaceChildren();
    }, "secondary"));
    box.hidden = false;
}
async function runTest(d) {
    const panel = $("test");
    panel.hidden = false;
    const list = el("ol", { class: "steps", "aria-live": "polite" });
    panel.replaceChildren(el("h2", {}, `Testing ${d.name}`), list);
    try {
        await stream(ws(`/destinations/${encodeURIComponent(d.id)}/test`), {}, (e) => {
            if (e.event === "step") {
                const step = e.data;
                const item = el("li", { class: `step ${step.status}`, "data-step": step.name }, `${step.label}: ${step.status}`);
                if (step.message)
                    item.append(el("div", {}, step.message));
                if (step.hint)
                    item.append(el("div", { class: "hint" }, `Hint: ${step.hint}`));
                list.append(item);
            }
            else if (e.event === "done") {
                // The report itself, or (from a saved destination) the report with the destination.
                const done = e.data;
                const success = done.report?.success ?? done.success;
                list.append(el("li", { class: "done" }, success ? "Connection works." : "The test failed."));
            }
        });
        await showList();
    }
    catch (error) {
        list.append(el("li", { class: "failed" }, error.message));
    }
}
async function setActive(d, active) {
    try {
        await call("PATCH", ws(`/destinations/${encodeURIComponent(d.id)}`), { is_active: active });
        say(`${d.name} is ${active ? "enabled" : "disabled"}.`);
        await showList();
    }
    catch (error) {
        say(error.message);
    }
}
/** Starts the provider's consent in a new window; it comes back to the portal, which says how
 * it went (the provider's page cannot be framed). */
async function connect(d) {
    try {
        const started = await call("POST", ws(`/oauth/${encodeURIComponent(d.destination_type)}/start`), { destination_id: d.id, return_to: `${location.origin}/portal/` });
        window.open(started.authorization_url, "_blank", "noopener");
        say(`Connecting ${d.name}: finish in the window that opened, then refresh this list.`);
    }
    catch (error) {
        say(error.message);
    }
}
async function rotate(d) {
    if (!window.confirm(`Make a new signing secret for ${d.name}? The current one keeps signing for 24 hours.`))
        return;
    try {
        const rotated = await call("POST", ws(`/destinations/${encodeURIComponent(d.id)}/rotate-secret`));
        showOnce("New signing secret", rotated.signing_secret);
        say(rotated.previous_secret_expires_at
            ? `The old secret of ${d.name} signs too until ${new Date(rotated.previous_secret_expires_at).toLocaleString()}.`
            : `${d.name} has a new signing secret.`);
    }
    catch (error) {
        say(error.message);
    }
}
async function remove(d) {
    // Active routes that send to it block the delete: they are named before anything is asked.
    try {
        const found = await call("GET", ws(`/destinations/${encodeURIComponent(d.id)}?include=route_usages`));
        const blocking = (found.route_usages?.routes ?? []).filter((r) => r.is_active).map((r) => r.name);
        if (blocking.length > 0) {
            say(`${d.name} cannot be deleted while these active routes send to it: ${blocking.join(", ")}. Disable or delete them first.`);
            return;
        }
    }
    catch (error) {
        say(error.message);
        return;
    }
    if (!window.confirm(`Delete ${d.name}?`))
        return;
    try {
        await call("DELETE", ws(`/destinations/${encodeURIComponent(d.id)}`));
        say(`Deleted ${d.name}.`);
        await showList();
    }
    catch (error) {
        // A destination routes still send to is not deleted: the message names them.
        say(error.message);
    }
}
async function start() {
    // An OAuth flow comes back here with how it went.
    const back = new URLSearchParams(location.search);
    const oauth = back.get("oauth_status");
    history.replaceState(null, "", "/portal/");
    try {
        session = await call("GET", "/api/v1/portal/session");
        useCsrf(session.csrf_token);
        applyTheme();
        await showList();
        void readCatalog().then(drawList, () => undefined);
        const routes = {
            ws,
            mayManage: !session.capabilities.read_only && session.capabilities.manage_routes,
            names: () => known,
            say,
        };
        // Both need only the destinations' names: they are read side by side.
        await Promise.all([
            showRoutes(routes),
            showDeliveries({
                ws,
                readOnly: session.capabilities.read_only,
                names: () => known,
                say,
            }),
        ]);
        const create = $("create");
        create.hidden = session.capabilities.read_only;
        create.addEventListener("click", () => void openForm());
        if (oauth) {
            const why = back.get("oauth_error");
            say(oauth === "connected" ? "Connected." : `Connecting failed: ${why ?? oauth}`);
        }
        else {
            say(session.capabilities.read_only ? "Read only." : "");
        }
    }
    catch (error) {
        say(`The portal could not load: ${error.message}`);
    }
    document.body.dataset["ready"] = "true";
    $("sign-out").addEventListener("click", async () => {
        try {
            await call("DELETE", "/api/v1/portal/session");
            say("Signed out.");
            $("destinations").hidden = true;
            $("create").hidden = true;
            $("create-route").hidden = true;
            $("routes").hidden = true;
            $("deliveries").hidden = true;
            // Nothing is read any more.
            $("live").checked = false;
        }
        catch (error) {
            say(`Signing out failed: ${error.message}`);
        }
    });
}
void start();
