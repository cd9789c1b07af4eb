// The portal's routes: which events go to which destination, reshaped how. The list shows each
// route's event types, destination, filter and state; sessions that may manage routes create,
// edit, enable, disable and delete them. The form picks event types from the workspace's own,
// offers the destination's fields (from its `describe_fields`) as mapping targets and the
// chosen types' payload fields (from their schemas) as sources, and takes a content filter as
// JSON. Every problem the API names lands on the control its JSON path points at.
import { allPages, ApiError, call } from "./api.js";
import { button, el } from "./dom.js";
import { showProblems } from "./render.js";
const byId = (id) => document.getElementById(id);
/** Draws the workspace's routes (those the session sees). */
export async function showRoutes(ctx) {
    const routes = await allPages(ctx.ws("/routes"));
    const names = ctx.names();
    const body = document.querySelector("#routes tbody");
    body.replaceChildren();
    for (const r of routes) {
        const actions = el("td", { class: "actions" });
        if (ctx.mayManage) {
            actions.append(button("Edit", () => void openRouteForm(ctx, r), "secondary", `Edit route ${r.name}`), button(r.is_active ? "Disable" : "Enable", () => void change(ctx, "PATCH", r, { is_active: !r.is_active }, `${r.name} is ${r.is_active ? "disabled" : "enabled"}.`), "secondary", `${r.is_active ? "Disable" : "Enable"} route ${r.name}`), button("Delete", () => {
                if (window.confirm(`Delete the route ${r.name}?`))
                    void change(ctx, "DELETE", r, undefined, `Deleted ${r.name}.`);
            }, "danger", `Delete route ${r.name}`));
        }
        body.append(el("tr", { "data-route": r.id }, el("th", { scope: "row" }, r.name), el("td", {}, r.event_types.join(", ")), el("td", {}, names.get(r.destination_id) ?? r.destination_id), el("td", {}, r.filter ? JSON.stringify(r.filter) : "—"), el("td", {}, r.field_mapping.length ? `${r.field_mapping.length} rules` : "—"), el("td", {}, r.is_active ? "yes" : "no"), actions));
    }
    byId("routes").hidden = routes.length === 0;
    byId("routes-empty").hidden = routes.length !== 0;
    const create = byId("create-route");
    create.hidden = !ctx.mayManage;
    if (!create.dataset["bound"]) {
        create.dataset["bound"] = "true";
        create.addEventListener("click", () => void openRouteForm(ctx));
    }
}
async function change(ctx, method, r, body, done) {
    try {
        await call(method, ctx.ws(`/routes/${encodeURIComponent(r.id)}`), body);
        ctx.say(done);
        await showRoutes(ctx);
    }
    catch (error) {
        ctx.say(error.message);
    }
}
/** A labelled control with the slot its problems are shown in, registered under `path`. */
function field(label, control, path, slots, help = "") {
    const id = control.id;
    const problem = el("p", { id: `${id}-problem`, class: "problem", role: "alert", hidden: "" });
    slots.set(path, problem);
    control.setAttribute("aria-describedby", `${id}-problem${help ? ` ${id}-help` : ""}`);
    const box = el("div", { class: "field", "data-path": path }, el("label", { for: id }, label), control);
    if (help)
        box.append(el("p", { id: `${id}-help`, class: "help" }, help));
    box.append(problem);
    return box;
}
/** The dot paths of a payload schema's properties, nested objects included (a few levels). */
export function payloadPaths(schema, prefix = "", depth = 0) {
    const properties = schema?.properties;
    if (!properties || depth > 4)
        return [];
    return Object.entries(properties).flatMap(([key, inner]) => {
        const path = prefix ? `${prefix}.${key}` : key;
        return [path, ...payloadPaths(inner, path, depth + 1)];
    });
}
/** The form of a new route (`existing` absent) or of one to edit. */
async function openRouteForm(ctx, existing) {
    let types = [];
    try {
        types = (await call("GET", ctx.ws("/event-types"))).data;
    }
    catch (error) {
        ctx.say(`The event types could not be read: ${error.message}`);
    }
    const panel = byId("route-editor");
    panel.hidden = false;
    const heading = el("h2", { id: "route-heading", tabindex: "-1" }, existing ? `Edit route ${existing.name}` : "New route");
    const form = el("form", { novalidate: "", "aria-labelledby": "route-heading" });
    panel.replaceChildren(heading, form);
    const slots = new Map();
    const name = el("input", { id: "route-name", type: "text", required: "" });
    name.value = existing?.name ?? "";
    form.append(field("Name *", name, "/name", slots));
    const destination = el("select", { id: "route-destination" });
    // Nothing is chosen for the person: reading a destination's fields may connect to it.
    destination.append(el("option", { value: "" }, "Choose a destination"));
    for (const [id, label] of ctx.names())
        destination.append(el("option", { value: id }, label));
    if (existing)
        destination.value = existing.destination_id;
    form.append(field("Destination", destination, "/destination_id", slots));
    // Event types: the workspace's own as checkboxes, with every event and patterns beside them.
    const chosen = new Set(existing?.event_types ?? []);
    const picker = el("fieldset", { class: "field", "data-path": "/event_types" }, el("legend", {}, "Event types *"));
    const boxes = [];
    const option = (value, label, help = "") => {
        const id = `route-type-${boxes.length}`;
        const box = el("input", { id, type: "checkbox", value, name: "event_type" });
        box.checked = chosen.delete(value);
        boxes.push(box);
        const row = el("div", { class: "check" }, box, el("label", { for: id }, label));
        if (help)
            row.append(el("span", { class: "help" }, ` ${help}`));
        picker.append(row);
    };
    option("*", "Every event");
    for (const t of types)
        option(t.name, t.name, [t.description ?? "", t.deprecated ? "(deprecated)" : ""].join(" ").trim());
    const patterns = el("input", { id: "route-patterns", type: "text", placeholder: "order.*, invoice.paid" });
    patterns.value = [...chosen].join(", ");
    const typesProblem = el("p", { id: "route-types-problem", class: "problem", role: "alert", hidden: "" });
    slots.set("/event_types", typesProblem);
    patterns.setAttribute("aria-describedby", "route-types-problem");
    picker.append(el("label", { for: "route-patterns" }, "Other types or prefixes (comma separated)"), patterns, typesProblem);
    form.append(picker);
    // Field mapping: rules in order, targets offered from the destination's fields.
    const targets = el("datalist", { id: "route-targets" });
    const sources = el("datalist", { id: "route-sources" });
    const fieldsNote = el("p", { class: "help", id: "route-fields" });
    const rules = el("ol", { class: "rules" });
    const mapping = el("fieldset", { class: "field", "data-path": "/field_mapping" }, el("legend", {}, "Field mapping"), el("p", { class: "help" }, "Applied in order to a copy of each payload: rename a field, set a constant, or remove a field."), fieldsNote, rules, targets, sources);
    const mappingProblem = el("p", { class: "problem", role: "alert", hidden: "" });
    slots.set("/field_mapping", mappingProblem);
    const addRule = button("Add a rule", () => rules.append(ruleRow()), "secondary", "Add a rule to the mapping");
    mapping.append(addRule, mappingProblem);
    form.append(mapping);
    for (const rule of existing?.field_mapping ?? [])
        rules.append(ruleRow(rule));
    // Only the latest choice's answer is shown: an earlier one may come back later. The fields
    // are read when a destination is chosen, or when a target is edited (reading them may
    // connect to the destination, so opening the form does not).
    let asked = 0;
    let readFor = "";
    const offerTargets = async () => {
        const mine = ++asked;
        readFor = destination.value;
        targets.replaceChildren();
        fieldsNote.textContent = "";
        if (!destination.value)
            return;
        fieldsNote.textContent = "Reading the destination's fields…";
        try {
            const fields = await call("GET", ctx.ws(`/destinations/${encodeURIComponent(destination.value)}/fields`));
            if (mine !== asked)
                return;
            // A destination whose one field is the payload takes any field (as the API holds).
            const open = fields.length === 0 || (fields.length === 1 && fields[0]?.name === "payload");
            if (open) {
                fieldsNote.textContent = "The destination takes the whole payload: any field.";
                return;
            }
            for (const f of fields)
                targets.append(el("option", { value: f.name }, `${f.type}${f.required ? ", required" : ""}`));
            fieldsNote.textContent = `Fields the destination takes: ${fields
                .map((f) => `${f.name} (${f.type}${f.required ? ", required" : ""})`)
                .join(", ")}.`;
        }
        catch (error) {
            if (mine !== asked)
                return;
            fieldsNote.textContent = `The destination's fields could not be read: ${error.message}`;
        }
    };
    const offerSources = () => {
        const picked = new Set(boxes.filter((b) => b.checked).map((b) => b.value));
        const all = picked.has("*");
        const paths = new Set(types.filter((t) => all || picked.has(t.name)).flatMap((t) => payloadPaths(t.schema)));
        sources.replaceChildren(...[...paths].map((p) => el("option", { value: p })));
    };
    destination.addEventListener("change", () => void offerTargets());
    rules.addEventListener("focusin", (event) => {
        const part = event.target.dataset["part"];
        if (part === "target" && readFor !== destination.value)
            void offerTargets();
    });
    for (const b of boxes)
        b.addEventListener("change", offerSources);
    offerSources();
    const filter = el("textarea", { id: "route-filter", rows: "3", placeholder: '{"customer.tier": "gold", "total": {"$gte": 100}}' });
    filter.value = existing?.filter ? JSON.stringify(existing.filter, null, 2) : "";
    form.append(field("Content filter (JSON)", filter, "/filter", slots, "Only events whose payload matches take the route; empty: every event of its types."));
    const active = el("input", { id: "route-active", type: "checkbox" });
    active.checked = existing?.is_active ?? true;
    form.append(el("div", { class: "field check" }, active, el("label", { for: "route-active" }, "Active")));
    const formProblem = el("p", { class: "problem", role: "alert", hidden: "" });
    const save = el("button", { type: "submit" }, existing ? "Save route" : "Create route");
    const cancel = button("Cancel", () => {
        panel.hidden = true;
        panel.replaceChildren();
    }, "secondary");
    form.append(el("div", { class: "buttons" }, save, cancel), formProblem);
    heading.focus();
    form.addEventListener("submit", (event) => {
        event.preventDefault();
        const problems = [];
        const eventTypes = [
            ...boxes.filter((b) => b.checked).map((b) => b.value),
            ...patterns.value.split(",").map((p) => p.trim()).filter((p) => p),
        ];
        if (!name.value.trim())
            problems.push({ path: "/name", message: "is required" });
        if (!destination.value)
            problems.push({ path: "/destination_id", message: "choose one" });
        if (eventTypes.length === 0)
            problems.push({ path: "/event_types", message: "pick at least one event type" });
        let parsedFilter = null;
        if (filter.value.trim()) {
            try {
                parsedFilter = JSON.parse(filter.value);
            }
            catch (error) {
                problems.push({ path: "/filter", message: `is not JSON: ${error.message}` });
            }
        }
        // Rules may have been added or removed: their problems go to their places as sent.
        for (const key of [...slots.keys()])
            if (key.startsWith("/field_mapping/"))
                slots.delete(key);
        [...rules.children].forEach((row, i) => {
            const slot = ruleProblems.get(row);
            if (slot)
                slots.set(`/field_mapping/${i}`, slot);
        });
        const fieldMapping = [...rules.children].map((row, i) => readRule(row, i, problems));
        if (problems.length > 0)
            return show(problems);
        const body = {
            name: name.value.trim(),
            destination_id: destination.value,
            event_types: eventTypes,
            field_mapping: fieldMapping,
            filter: parsedFilter,
            is_active: active.checked,
        };
        void (async () => {
            try {
                if (existing)
                    await call("PATCH", ctx.ws(`/routes/${encodeURIComponent(existing.id)}`), body);
                else
                    await call("POST", ctx.ws("/routes"), body);
                ctx.say(existing ? `Saved the route ${body.name}.` : `Created the route ${body.name}.`);
                panel.hidden = true;
                panel.replaceChildren();
                await showRoutes(ctx);
            }
            catch (error) {
                show(error instanceof ApiError && error.problems.length ? error.problems : [{ path: "", message: error.message }]);
            }
        })();
    });
    function show(problems) {
        const unplaced = showProblems(slots, problems);
        formProblem.hidden = unplaced.length === 0;
        formProblem.textContent = unplaced.join("; ");
        form.querySelector(".problem:not([hidden])")?.closest(".field, fieldset, li")?.querySelector("input, select, textarea")?.focus();
    }
}
let ruleCount = 0;
/** One mapping rule's controls; its problems land on it (`/field_mapping/{i}`). */
function ruleRow(rule) {
    const n = ruleCount++;
    const kind = el("select", { id: `rule-${n}-kind`, "data-part": "kind" });
    kind.append(el("option", { value: "rename" }, "Rename"), el("option", { value: "constant" }, "Set a constant"), el("option", { value: "drop" }, "Remove"));
    const source = el("input", { id: `rule-${n}-source`, type: "text", list: "route-sources", "data-part": "source" });
    const target = el("input", { id: `rule-${n}-target`, type: "text", list: "route-targets", "data-part": "target" });
    const value = el("input", { id: `rule-${n}-value`, type: "text", "data-part": "value", placeholder: '"text", 42 or {"a": 1}' });
    const fallback = el("input", { id: `rule-${n}-default`, type: "text", "data-part": "default", placeholder: "none" });
    if (rule) {
        kind.value = "drop" in rule ? "drop" : "value" in rule ? "constant" : "rename";
        if ("source" in rule)
            source.value = rule.source;
        if ("target" in rule)
            target.value = rule.target;
        if ("value" in rule)
            value.value = JSON.stringify(rule.value);
        if ("default" in rule)
            fallback.value = JSON.stringify(rule.default);
    }
    const part = (label, control) => el("span", { class: "part" }, el("label", { for: control.id }, label), control);
    const sourcePart = part("From", source);
    const targetPart = part("To", target);
    const valuePart = part("Value (JSON)", value);
    const defaultPart = part("If missing (JSON)", fallback);
    const shown = () => {
        sourcePart.hidden = kind.value === "constant";
        targetPart.hidden = kind.value === "drop";
        valuePart.hidden = kind.value !== "constant";
        defaultPart.hidden = kind.value !== "rename";
    };
    kind.addEventListener("change", shown);
    shown();
    const problem = el("p", { class: "problem", role: "alert", hidden: "" });
    const row = el("li", { class: "rule", "data-rule": String(n) }, part("Rule", kind), sourcePart, targetPart, valuePart, defaultPart, problem);
    const remove = button("Remove", () => row.remove(), "danger", "Remove rule");
    row.insertBefore(remove, problem);
    ruleProblems.set(row, problem);
    return row;
}
/** Each rule's problem slot; keyed by its place in the list only when the form is sent. */
const ruleProblems = new WeakMap();
/** A rule as the API takes it, with what is missing added to `problems`. */
function readRule(row, i, problems) {
    const get = (part) => row.querySelector(`[data-part="${part}"]`).value.trim();
    const path = `/field_mapping/${i}`;
    switch (get("kind")) {
        case "drop":
            if (!get("source"))
                problems.push({ path: `${path}/source`, message: "is required" });
            return { source: get("source"), drop: true };
        case "constant":
            if (!get("target"))
                problems.push({ path: `${path}/target`, message: "is required" });
            return { target: get("target"), value: jsonOrText(get("value")) };
        default: {
            if (!get("source"))
                problems.push({ path: `${path}/source`, message: "is required" });
            if (!get("target"))
                problems.push({ path: `${path}/target`, message: "is required" });
            const rename = { source: get("source"), target: get("target") };
            // Empty: no default (the target is left out when the source is missing).
            if (get("default"))
                rename.default = jsonOrText(get("default"));
            return rename;
        }
    }
}
/** `text` as JSON, or as a string when it is not JSON. */
function jsonOrText(text) {
    try {
        return JSON.parse(text);
    }
    catch {
        return text;
    }
}
