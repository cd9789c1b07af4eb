// The attempt log of the portal: the workspace's deliveries (those its session sees), filtered
// by status, destination, event type and time, each opening onto every attempt (status,
// latency, error, the start of the answer), with a retry per delivery and a replay of a
// destination's failed deliveries for sessions that may change things. While "Refresh" is on,
// the first page is read again every few seconds, so new deliveries and their outcomes appear
// as they happen.
import { call } from "./api.js";
import { el } from "./dom.js";
let cursor = null;
/** The filters of the page shown (those last sent with "Show"), which a refresh keeps. */
let applied = "";
/** Pages shown: a refresh redraws only a log of one page. */
let pages = 0;
let loading = false;
/** Loads started: an answer is drawn only if no later load started meanwhile. */
let started = 0;
const REFRESH_MS = 3000;
function query(form) {
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const key of ["status", "destination_id", "event_type"]) {
        const value = String(data.get(key) ?? "");
        if (value)
            params.set(key, value);
    }
    const since = String(data.get("since") ?? "");
    if (since)
        params.set("since", new Date(since).toISOString());
    params.set("limit", "50");
    return params.toString();
}
/** Draws the filters into `#delivery-filters` and the first page of the log. */
export async function showDeliveries(ctx) {
    const form = document.getElementById("delivery-filters");
    const destination = form.querySelector("[name=destination_id]");
    if (destination) {
        const chosen = destination.value;
        destination.replaceChildren(el("option", { value: "" }, "Every destination"));
        for (const [id, name] of ctx.names())
            destination.append(el("option", { value: id }, name));
        destination.value = chosen;
    }
    if (!form.dataset["bound"]) {
        form.dataset["bound"] = "true";
        form.addEventListener("submit", (event) => {
            event.preventDefault();
            void load(ctx, form, false);
        });
        document.getElementById("deliveries-more")?.addEventListener("click", () => void load(ctx, form, true));
        document.getElementById("replay")?.addEventListener("click", () => void replay(ctx, form));
        window.setInterval(() => void refresh(ctx, form), REFRESH_MS);
    }
    document.getElementById("replay").hidden = ctx.readOnly;
    await load(ctx, form, false);
}
/** Reads the first page again, unless refreshing is off, the page is hidden, more than one
 * page is shown, or focus is in the log (redrawing would take it away). */
async function refresh(ctx, form) {
    const live = document.getElementById("live");
    const table = document.getElementById("deliveries");
    if (!live?.checked || document.hidden || loading || pages > 1 || table.contains(document.activeElement))
        return;
    try {
        await load(ctx, form, false, true);
    }
    catch {
        // The next "Show" says what is wrong; a refresh stays quiet.
    }
}
async function load(ctx, form, more, again = false) {
    const body = document.querySelector("#deliveries tbody");
    if (!more && !again)
        applied = query(form);
    const mine = ++started;
    loading = true;
    let page;
    try {
        page = await call("GET", ctx.ws(`/deliveries?${applied}${more && cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`));
    }
    finally {
        loading = false;
    }
    // A refresh sent before "Show" may answer after it, with the old filters.
    if (mine !== started)
        return;
    if (!more) {
        body.replaceChildren();
        pages = 0;
    }
    pages += 1;
    cursor = page.next_cursor;
    const names = ctx.names();
    for (const d of page.data) {
        const open = el("button", { type: "button", class: "secondary", "aria-label": `Attempts of delivery ${d.id}` }, "Attempts");
        open.addEventListener("click", () => void detail(ctx, d));
        body.append(el("tr", { "data-delivery": d.id, "data-status": d.status }, el("td", {}, new Date(d.created_at).toLocaleString()), el("td", {}, names.get(d.destination_id) ?? d.destination_id), el("td", {}, d.event_type), el("th", { scope: "row" }, d.status), el("td", {}, String(d.attempt_count)), el("td", {}, d.last_error ?? ""), el("td", {}, open)));
    }
    const count = body.children.length;
    const table = document.getElementById("deliveries");
    table.hidden = count === 0;
    // How many times the log was drawn: a caller can tell a new answer from the last one.
    table.dataset["drawn"] = String(Number(table.dataset["drawn"] ?? "0") + 1);
    document.getElementById("deliveries-empty").hidden = count !== 0;
    document.getElementById("deliveries-more").hidden = !cursor;
}
async function detail(ctx, d) {
    const panel = document.getElementById("delivery");
    panel.hidden = false;
    // The delivery's fields, with its attempts beside them.
    const found = await call("GET", ctx.ws(`/deliveries/${encodeURIComponent(d.id)}`));
    const rows = found.attempts.map((a) => el("tr", {}, el("td", {}, String(a.number)), el("td", {}, new Date(a.started_at).toLocaleString()), el("td", {}, `${a.duration_ms} ms`), el("th", { scope: "row" }, a.outcome), el("td", {}, a.http_status === null ? "" : String(a.http_status)), el("td", {}, a.error ?? ""), el("td", {}, el("code", {}, a.response ?? ""))));
    const heading = el("h3", { tabindex: "-1" }, `Delivery ${found.id}: ${found.status}`);
    panel.replaceChildren(heading, el("table", {}, el("thead", {}, el("tr", {}, ...["#", "Started", "Took", "Outcome", "HTTP", "Error", "Answer"].map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, ...rows)));
    if (!ctx.readOnly && found.status !== "in_flight") {
        const retry = el("button", { type: "button" }, "Retry now");
        retry.addEventListener("click", async () => {
            try {
                await call("POST", ctx.ws(`/deliveries/${encodeURIComponent(d.id)}/retry`));
                ctx.say("Queued again.");
            }
            catch (error) {
                ctx.say(error.message);
            }
        });
        panel.append(retry);
    }
    heading.focus();
}
async function replay(ctx, form) {
    const destination = String(new FormData(form).get("destination_id") ?? "");
    try {
        const body = destination ? { destination_id: destination } : {};
        const queued = await call("POST", ctx.ws("/deliveries/replay"), body);
        ctx.say(`${queued.queued} failed deliveries queued again.`);
        await load(ctx, form, false);
    }
    catch (error) {
        ctx.say(error.message);
    }
}
