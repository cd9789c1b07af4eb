// The form a JSON Schema describes, as data: one Field per value the schema names, each with
// its JSON pointer, label, help, whether it is required or may be null, its default and
// example, and its kind (text, secret text, number, yes/no, one of a list, an object of
// fields, a map, a list, or a choice between shapes). Nothing here touches the page, so every
// schema of the catalog is checked in tests without a browser.
/** A schema this renderer does not understand: the catalog's schemas must never raise it. */
export class UnsupportedSchema extends Error {
}
/** The form of `schema` (its `$defs` resolve `$ref`s). */
export function formOf(schema) {
    return field(schema, schema, "", "", true);
}
/** The label of a property name: `bootstrap_servers` → `Bootstrap servers`. */
export function labelOf(key) {
    const words = key.replace(/_/g, " ").trim();
    return words ? words[0].toUpperCase() + words.slice(1) : "";
}
function resolve(root, schema) {
    const ref = schema["$ref"];
    if (typeof ref !== "string")
        return schema;
    const name = ref.startsWith("#/$defs/") ? ref.slice("#/$defs/".length) : undefined;
    const defs = root["$defs"];
    const target = name !== undefined ? defs?.[name] : undefined;
    if (!target)
        throw new UnsupportedSchema(`unresolved reference ${ref}`);
    // Keywords beside the reference (a description, a default) win over the target's.
    const { $ref: _ref, ...beside } = schema;
    return { ...resolve(root, target), ...beside };
}
function isNull(s) {
    return s["type"] === "null";
}
/** The schema without its "or null" (`anyOf: [X, null]`, `type: [T, "null"]`), and whether it had one. */
function withoutNull(root, schema) {
    const s = resolve(root, schema);
    const types = s["type"];
    if (Array.isArray(types) && types.includes("null")) {
        const rest = types.filter((t) => t !== "null");
        return [{ ...s, type: rest.length === 1 ? rest[0] : rest }, true];
    }
    for (const word of ["anyOf", "oneOf"]) {
        const alternatives = s[word];
        if (Array.isArray(alternatives) && alternatives.some(isNull)) {
            const rest = alternatives.filter((a) => !isNull(a));
            const { [word]: _dropped, ...beside } = s;
            const inner = rest.length === 1 ? { ...resolve(root, rest[0]), ...beside } : { ...beside, [word]: rest };
            return [inner, true];
        }
    }
    return [s, false];
}
function text(s, key) {
    const v = s[key];
    return typeof v === "string" ? v : undefined;
}
function num(s, key) {
    const v = s[key];
    return typeof v === "number" ? v : undefined;
}
function field(root, schema, path, key, required) {
    const [s, nullable] = withoutNull(root, schema);
    const examples = s["examples"];
    const base = {
        path,
        key,
        label: labelOf(key),
        help: text(s, "description"),
        required,
        nullable,
        default: s["default"],
        example: Array.isArray(examples) ? examples[0] : undefined,
    };
    return { ...base, kind: kindOf(root, s, path) };
}
function kindOf(root, s, path) {
    if ("const" in s)
        return { type: "constant", value: s["const"] };
    if (Array.isArray(s["enum"])) {
        return { type: "select", options: s["enum"].map((value) => ({ value, label: String(value) })) };
    }
    const alternatives = (s["oneOf"] ?? s["anyOf"]);
    if (Array.isArray(alternatives))
        return alternativesOf(root, alternatives, path);
    const type = s["type"];
    switch (type) {
        case "string":
            return {
                type: "text",
                secret: s["writeOnly"] === true,
                multiline: /pem|json|private_key/i.test(path),
                minLength: num(s, "minLength"),
                maxLength: num(s, "maxLength"),
                pattern: text(s, "pattern"),
            };
        case "integer":
        case "number":
            return { type: "number", integer: type === "integer", minimum: num(s, "minimum"), maximum: num(s, "maximum") };
        case "boolean":
            return { type: "boolean" };
        case "array": {
            const items = s["items"];
            if (typeof items !== "object" || items === null)
                throw new UnsupportedSchema(`${path}: a list without items`);
            return {
                type: "list",
                item: field(root, items, `${path}/0`, "", true),
                minItems: num(s, "minItems"),
                maxItems: num(s, "maxItems"),
            };
        }
        case "object":
        case undefined: {
            const properties = s["properties"];
            const extra = s["additionalProperties"];
            if (!properties && typeof extra === "object" && extra !== null) {
                return { type: "map", value: field(root, extra, `${path}/*`, "", true) };
            }
            if (!properties && type === undefined) {
                // Nothing but words about it (`{"description": ...}`): any JSON value.
                const constraining = Object.keys(s).filter((k) => !["description", "title", "default", "examples"].includes(k));
                if (constraining.length === 0)
                    return { type: "json" };
                throw new UnsupportedSchema(`${path || "/"}: no type (${constraining.join(", ")})`);
            }
            const required = new Set(s["required"] ?? []);
            const fields = Object.entries(properties ?? {}).map(([name, p]) => field(root, p, `${path}/${escape(name)}`, name, required.has(name)));
            return { type: "object", fields, open: extra !== false && extra !== undefined };
        }
        default:
            throw new UnsupportedSchema(`${path || "/"}: type ${JSON.stringify(type)}`);
    }
}
/** A JSON pointer segment. */
function escape(name) {
    return name.replace(/~/g, "~0").replace(/\//g, "~1");
}
function alternativesOf(root, alternatives, path) {
    const resolved = alternatives.map((a) => resolve(root, a));
    // Constants only: one of a list.
    if (resolved.every((a) => "const" in a)) {
        return {
            type: "select",
            options: resolved.map((a) => ({ value: a["const"], label: String(a["const"]), help: text(a, "description") })),
        };
    }
    const options = resolved.map((a, i) => {
        const inner = field(root, a, path, "", true);
        const tag = tagOf(inner);
        const label = tag ? String(tag.value) : text(a, "title") ?? describeShape(a, i);
        return { label, help: text(a, "description"), field: inner, tag };
    });
    return { type: "choice", options };
}
/** The constant property that tells an object alternative apart, if it has one. */
function tagOf(f) {
    if (f.kind.type !== "object")
        return undefined;
    for (const inner of f.kind.fields) {
        if (inner.kind.type === "constant")
            return { key: inner.key, value: inner.kind.value };
    }
    return undefined;
}
function describeShape(s, i) {
    const type = s["type"];
    if (type === "array")
        return "A list";
    if (type === "string")
        return "One value";
    if (type === "object")
        return "An object";
    return `Option ${i + 1}`;
}
