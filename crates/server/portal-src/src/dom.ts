// Building the page: an element with its attributes and children, text always set as text
// (never parsed as markup).

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** A button that runs `onClick`; `label` names it for assistive technology when its text
 * alone would not (it must contain the text). */
export function button(text: string, onClick: () => void, kind = "", label = ""): HTMLButtonElement {
  const b = el("button", { type: "button", class: kind, ...(label ? { "aria-label": label } : {}) }, text);
  b.addEventListener("click", onClick);
  return b;
}
