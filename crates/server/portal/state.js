// What a form holds while someone edits it, apart from the page: filled from a value (an
// example, a saved destination) and collected back into the JSON the API takes. Empty inputs
// are left out of the JSON; a stored secret left empty is kept as it is on the server.
function isObject(v) {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}
function same(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
}
/** The state of `field` holding `value` (undefined: nothing entered yet). */
export function fill(field, value) {
    const kind = field.kind;
    switch (kind.type) {
        case "text":
            return { kind: "text", value: typeof value === "string" ? value : "", stored: false };
        case "number":
            return { kind: "number", value: typeof value === "number" ? String(value) : "" };
        case "boolean":
            return { kind: "boolean", value: typeof value === "boolean" ? value : undefined };
        case "select":
            return { kind: "select", index: kind.options.findIndex((o) => same(o.value, value)) };
        case "constant":
            return { kind: "constant" };
        case "object": {
            const given = isObject(value) ? value : {};
            const fields = {};
            for (const inner of kind.fields)
                fields[inner.key] = fill(inner, given[inner.key]);
            return { kind: "object", fields };
        }
        case "map": {
            const given = isObject(value) ? value : {};
            return { kind: "map", entries: Object.entries(given).map(([k, v]) => [k, fill(kind.value, v)]) };
        }
        case "list":
            return { kind: "list", items: Array.isArray(value) ? value.map((v) => fill(kind.item, v)) : [] };
        case "json":
            return { kind: "json", value: value === undefined ? "" : JSON.stringify(value, null, 2) };
        case "choice": {
            const index = value === undefined ? -1 : kind.options.findIndex((o) => fits(o.field, value));
            return {
                kind: "choice",
                index,
                states: kind.options.map((o, i) => fill(o.field, i === index ? value : undefined)),
            };
        }
    }
}
/** Whether `value` has the shape of `field` (to pick a choice's alternative). */
export function fits(field, value) {
    const kind = field.kind;
    switch (kind.type) {
        case "text":
            return typeof value === "string";
        case "number":
            return typeof value === "number";
        case "boolean":
            return typeof value === "boolean";
        case "select":
            return kind.options.some((o) => same(o.value, value));
        case "constant":
            return same(kind.value, value);
        case "list":
            return Array.isArray(value);
        case "map":
            return isObject(value);
        case "object": {
            if (!isObject(value))
                return false;
            const known = new Set(kind.fields.map((f) => f.key));
            for (const f of kind.fields) {
                if (f.kind.type === "constant" && !same(f.kind.value, value[f.key]))
                    return false;
            }
            return kind.open || Object.keys(value).every((k) => known.has(k));
        }
        case "choice":
            return kind.options.some((o) => fits(o.field, value));
        case "json":
            return true;
    }
}
/** The JSON `state` holds for `field` (undefined: left out), and the problems found. */
export function collect(field, state, problems = []) {
    const kind = field.kind;
    const missing = () => {
        if (field.required && field.default === undefined) {
            problems.push({ path: field.path, message: "is required" });
        }
        return undefined;
    };
    switch (kind.type) {
        case "text": {
            if (state.kind !== "text")
                return undefined;
            if (state.value === "")
                return state.stored ? undefined : missing();
            return state.value;
        }
        case "number": {
            if (state.kind !== "number")
                return undefined;
            if (state.value.trim() === "")
                return missing();
            const n = Number(state.value);
            if (!Number.isFinite(n) || (kind.integer && !Number.isInteger(n))) {
                problems.push({ path: field.path, message: kind.integer ? "must be a whole number" : "must be a number" });
                return undefined;
            }
            return n;
        }
        case "boolean":
            return state.kind === "boolean" && state.value !== undefined ? state.value : undefined;
        case "select": {
            if (state.kind !== "select" || state.index < 0)
                return missing();
            return kind.options[state.index].value;
        }
        case "constant":
            return kind.value;
        case "object": {
            if (state.kind !== "object")
                return undefined;
            const out = {};
            const before = problems.length;
            for (const inner of kind.fields) {
                const v = collect(inner, state.fields[inner.key] ?? fill(inner, undefined), problems);
                if (v !== undefined)
                    out[inner.key] = v;
            }
            const entered = Object.entries(out).some(([k]) => {
                const inner = kind.fields.find((f) => f.key === k);
                return inner?.kind.type !== "constant";
            });
            // An optional object left wholly empty is left out, with the problems of its parts.
            if (!entered && !field.required) {
                problems.length = before;
                return undefined;
            }
            return out;
        }
        case "map": {
            if (state.kind !== "map")
                return undefined;
            if (state.entries.length === 0)
                return field.required ? {} : undefined;
            const out = {};
            for (const [k, s] of state.entries) {
                if (k === "") {
                    problems.push({ path: field.path, message: "every entry needs a name" });
                    continue;
                }
                const v = collect(kind.value, s, problems);
                if (v !== undefined)
                    out[k] = v;
            }
            return out;
        }
        case "list": {
            if (state.kind !== "list")
                return undefined;
            if (state.items.length === 0)
                return missing();
            const out = [];
            for (const s of state.items) {
                const v = collect(kind.item, s, problems);
                if (v !== undefined)
                    out.push(v);
            }
            return out;
        }
        case "choice": {
            if (state.kind !== "choice" || state.index < 0)
                return missing();
            return collect(kind.options[state.index].field, state.states[state.index], problems);
        }
        case "json": {
            if (state.kind !== "json")
                return undefined;
            if (state.value.trim() === "")
                return missing();
            try {
                return JSON.parse(state.value);
            }
            catch {
                problems.push({ path: field.path, message: "is not valid JSON" });
                return undefined;
            }
        }
    }
}
