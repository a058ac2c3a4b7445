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

/**
 * An image address the widget may load, or null: http(s) with a host, or a path on the page's own
 * origin. "//other.host/x.png" (another host, no scheme), "/\\other.host", data: and javascript: are refused.
 */
export function imageSource(src, base = globalThis.location ? globalThis.location.href : "http://localhost/") {
  if (typeof src !== "string" || !src.trim()) return null;
  let url;
  try {
    url = /^https?:\/\//i.test(src) ? new URL(src) : new URL(src, base);
  } catch {
    return null;
  }
  if (!["http:", "https:"].includes(url.protocol)) return null;
  if (/^https?:\/\//i.test(src)) return url.href;
  const samePath = src.startsWith("/") && !/^\/[\/\\]/.test(src);
  return samePath && url.origin === new URL(base).origin ? url.href : null;
}

/** A stable hue for any string (for placeholders of products without a known colour). */
export function hue(text) {
  let hash = 0;
  for (const ch of String(text)) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % 360;
}

// Icons as SVG paths (24×24), so they look the same where no emoji font is installed.
const ICONS = {
  chat: "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z",
  mic: "M12 2a3 3 0 0 1 3 3v6a3 3 0 0 1-6 0V5a3 3 0 0 1 3-3zm-7 9h2a5 5 0 0 0 10 0h2a7 7 0 0 1-6 6.9V21h3v2H8v-2h3v-3.1A7 7 0 0 1 5 11z",
  speaker: "M3 9h4l5-4v14l-5-4H3zm13.5 3a4.5 4.5 0 0 0-2.5-4v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z",
  cart: "M7 18a2 2 0 1 0 0 4 2 2 0 0 0 0-4zm10 0a2 2 0 1 0 0 4 2 2 0 0 0 0-4zM1 2h3.3l.9 2H21l-3.6 7.2a2 2 0 0 1-1.8 1.1H8.1l-1 1.7h12v2H4l2.6-4.4L3 4H1z",
};

export function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", `sk-svg sk-svg-${name}`);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  return svg;
}
