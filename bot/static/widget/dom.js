// Building DOM without innerHTML: every string from the bot or the shopper becomes a text node,
// so markup inside a product name or a message is shown, never run.

/**
 * h("button", {class: "x", onclick: fn, "aria-label": "Send"}, "text", childNode)
 * Attributes starting with "on" become listeners; null/false attributes are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "style" && typeof value === "object") {
      Object.assign(el.style, value);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A CSS colour for a colour name from the catalogue, or null when the browser does not know it. */
export function cssColour(name) {
  const value = String(name || "").trim().toLowerCase().replace(/\s+/g, "");
  return value && /^[a-z]+$/.test(value) && CSS.supports("color", value) ? value : null;
}

/** A stable hue for any string (for placeholders of products without a known colour). */
export function hue(text) {
  let hash = 0;
  for (const ch of String(text)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % 360;
}
