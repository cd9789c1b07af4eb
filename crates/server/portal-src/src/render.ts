// Draws a form (see schema.ts) into the page, bound to its state (see state.ts): every
// control is labelled, its help is its description, a secret shows as "stored — replace"
// when one is stored, and a problem is shown on the field its JSON pointer names.

import type { Field } from "./schema.js";
import { el } from "./dom.js";
import { fill, type State } from "./state.js";

let counter = 0;
function id(): string {
  counter += 1;
  return `f${counter}`;
}

/** Where each field's problems are shown, by JSON pointer (under the form's prefix). */
export type ProblemSlots = Map<string, HTMLElement>;

/** The controls of `field` bound to `state`; `prefix` is the form's place in the request (`/config`). */
export function render(field: Field, state: State, prefix: string, slots: ProblemSlots): HTMLElement {
  const kind = field.kind;
  const inputId = id();
  const helpId = `${inputId}-help`;
  const problemId = `${inputId}-problem`;
  const label = el("label", { for: inputId }, field.label + (field.required && field.default === undefined ? " *" : ""));
  const help = field.help ? el("p", { id: helpId, class: "help" }, field.help) : undefined;
  const problem = el("p", { id: problemId, class: "problem", role: "alert", hidden: "" });
  slots.set(prefix + field.path, problem);
  const describedBy = [help ? helpId : "", problemId].filter(Boolean).join(" ");
  const wrap = (control: HTMLElement) => {
    const box = el("div", { class: "field", "data-path": prefix + field.path });
    if (field.key) box.append(label);
    box.append(control);
    if (help) box.append(help);
    box.append(problem);
    return box;
  };
  const placeholder =
    field.example !== undefined ? String(field.example) : field.default !== undefined ? String(field.default) : "";

  switch (kind.type) {
    case "text": {
      if (state.kind !== "text") break;
      const attributes: Record<string, string> = { id: inputId, "aria-describedby": describedBy, name: prefix + field.path };
      if (kind.secret) {
        attributes["autocomplete"] = "off";
        if (state.stored) attributes["placeholder"] = "stored — replace";
      } else if (placeholder) attributes["placeholder"] = placeholder;
      const input = kind.multiline && !kind.secret
        ? el("textarea", { ...attributes, rows: "4" })
        : el("input", { ...attributes, type: kind.secret ? "password" : "text" });
      input.value = state.value;
      input.addEventListener("input", () => (state.value = input.value));
      return wrap(input);
    }
    case "number": {
      if (state.kind !== "number") break;
      const input = el("input", {
        id: inputId,
        type: "number",
        inputmode: kind.integer ? "numeric" : "decimal",
        "aria-describedby": describedBy,
        name: prefix + field.path,
        ...(placeholder ? { placeholder } : {}),
        ...(kind.minimum !== undefined ? { min: String(kind.minimum) } : {}),
        ...(kind.maximum !== undefined ? { max: String(kind.maximum) } : {}),
      });
      input.value = state.value;
      input.addEventListener("input", () => (state.value = input.value));
      return wrap(input);
    }
    case "boolean": {
      if (state.kind !== "boolean") break;
      const input = el("input", { id: inputId, type: "checkbox", "aria-describedby": describedBy, name: prefix + field.path });
      input.checked = state.value ?? field.default === true;
      input.addEventListener("change", () => (state.value = input.checked));
      return wrap(input);
    }
    case "select": {
      if (state.kind !== "select") break;
      const select = el("select", { id: inputId, "aria-describedby": describedBy, name: prefix + field.path });
      const fallback = kind.options.findIndex((o) => JSON.stringify(o.value) === JSON.stringify(field.default));
      select.append(el("option", { value: "-1" }, fallback >= 0 ? `Default (${kind.options[fallback].label})` : "—"));
      kind.options.forEach((o, i) => select.append(el("option", { value: String(i) }, o.help ? `${o.label} — ${o.help}` : o.label)));
      select.value = String(state.index);
      select.addEventListener("change", () => (state.index = Number(select.value)));
      return wrap(select);
    }
    case "constant":
      return el("span", { hidden: "" });
    case "json": {
      if (state.kind !== "json") break;
      const input = el("textarea", {
        id: inputId,
        rows: "6",
        spellcheck: "false",
        "aria-describedby": describedBy,
        name: prefix + field.path,
        placeholder: "JSON",
      });
      input.value = state.value;
      input.addEventListener("input", () => (state.value = input.value));
      return wrap(input);
    }
    case "object": {
      if (state.kind !== "object") break;
      const fieldset = el("fieldset", { class: "group", "data-path": prefix + field.path });
      if (field.key) fieldset.append(el("legend", {}, field.label));
      if (field.help && field.key) fieldset.append(el("p", { class: "help" }, field.help));
      for (const inner of kind.fields) {
        const innerState = state.fields[inner.key] ?? (state.fields[inner.key] = fill(inner, undefined));
        fieldset.append(render(inner, innerState, prefix, slots));
      }
      fieldset.append(problem);
      return fieldset;
    }
    case "map": {
      if (state.kind !== "map") break;
      const fieldset = el("fieldset", { class: "group", "data-path": prefix + field.path });
      fieldset.append(el("legend", {}, field.label));
      if (field.help) fieldset.append(el("p", { class: "help" }, field.help));
      const rows = el("div", { class: "rows" });
      const draw = () => {
        rows.replaceChildren();
        state.entries.forEach((entry, i) => {
          const nameId = id();
          const name = el("input", { id: nameId, type: "text", "aria-label": `${field.label}: name ${i + 1}` });
          name.value = entry[0];
          name.addEventListener("input", () => (entry[0] = name.value));
          const value = render(
            { ...kind.value, path: `${field.path}/${i}`, label: `${field.label}: value ${i + 1}` },
            entry[1],
            prefix,
            slots,
          );
          const remove = el("button", { type: "button", class: "secondary" }, `Remove ${entry[0] || `entry ${i + 1}`}`);
          remove.addEventListener("click", () => {
            state.entries.splice(i, 1);
            draw();
          });
          rows.append(el("div", { class: "row" }, name, value, remove));
        });
      };
      draw();
      const add = el("button", { type: "button", class: "secondary" }, `Add to ${field.label.toLowerCase()}`);
      add.addEventListener("click", () => {
        state.entries.push(["", fill(kind.value, undefined)]);
        draw();
      });
      fieldset.append(rows, add, problem);
      return fieldset;
    }
    case "list": {
      if (state.kind !== "list") break;
      const fieldset = el("fieldset", { class: "group", "data-path": prefix + field.path });
      fieldset.append(el("legend", {}, field.label + (field.required ? " *" : "")));
      if (field.help) fieldset.append(el("p", { class: "help" }, field.help));
      const rows = el("div", { class: "rows" });
      const draw = () => {
        rows.replaceChildren();
        state.items.forEach((item, i) => {
          const inner = { ...kind.item, path: `${field.path}/${i}`, label: `${field.label} ${i + 1}` };
          const control = render(inner, item, prefix, slots);
          const remove = el("button", { type: "button", class: "secondary" }, `Remove ${field.label.toLowerCase()} ${i + 1}`);
          remove.addEventListener("click", () => {
            state.items.splice(i, 1);
            draw();
          });
          rows.append(el("div", { class: "row" }, control, remove));
        });
      };
      draw();
      const add = el("button", { type: "button", class: "secondary" }, `Add ${field.label.toLowerCase()}`);
      add.addEventListener("click", () => {
        state.items.push(fill(kind.item, undefined));
        draw();
      });
      fieldset.append(rows, add, problem);
      return fieldset;
    }
    case "choice": {
      if (state.kind !== "choice") break;
      const fieldset = el("fieldset", { class: "group", "data-path": prefix + field.path });
      fieldset.append(el("legend", {}, field.label || "Choose"));
      if (field.help) fieldset.append(el("p", { class: "help" }, field.help));
      const select = el("select", { id: inputId, "aria-label": `${field.label || "Choice"}: kind`, name: prefix + field.path });
      select.append(el("option", { value: "-1" }, "None"));
      kind.options.forEach((o, i) => select.append(el("option", { value: String(i) }, o.help ? `${o.label} — ${o.help}` : o.label)));
      select.value = String(state.index);
      const body = el("div", { class: "choice" });
      const draw = () => {
        body.replaceChildren();
        if (state.index >= 0) {
          const option = kind.options[state.index];
          body.append(render({ ...option.field, key: "", label: field.label }, state.states[state.index], prefix, slots));
        }
      };
      select.addEventListener("change", () => {
        state.index = Number(select.value);
        draw();
      });
      draw();
      fieldset.append(select, body, problem);
      return fieldset;
    }
  }
  return el("span", {}, "");
}

/** Shows each problem on its field (and returns those that found none). */
export function showProblems(slots: ProblemSlots, problems: { path: string; message: string }[]): string[] {
  for (const slot of slots.values()) {
    slot.hidden = true;
    slot.textContent = "";
  }
  const unplaced: string[] = [];
  for (const p of problems) {
    // The nearest field that has a slot: `/config/headers/X-Team` lands on `/config/headers`.
    let path = p.path;
    let slot = slots.get(path);
    while (!slot && path.includes("/")) {
      path = path.slice(0, path.lastIndexOf("/"));
      slot = slots.get(path);
    }
    if (slot) {
      slot.hidden = false;
      slot.textContent = slot.textContent ? `${slot.textContent}; ${p.message}` : p.message;
    } else {
      unplaced.push(`${p.path}: ${p.message}`);
    }
  }
  return unplaced;
}
