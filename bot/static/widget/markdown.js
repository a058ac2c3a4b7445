// The markdown the bot writes, drawn as DOM nodes: paragraphs, line breaks, "- " and "1. " lists,
// **bold**, *italic*, `code` and [links](https://...). Anything else stays literal text.
import { h } from "./dom.js";

const INLINE = /(\*\*[^*\n]+\*\*|`[^`\n]+`|\*[^*\s][^*\n]*\*|_[^_\s][^_\n]*_|\[[^\]\n]+\]\([^)\s]+\))/;

function inline(text) {
  const nodes = [];
  for (const part of String(text).split(INLINE)) {
    if (!part) continue;
    if (part.startsWith("**") && part.endsWith("**") && part.length > 4) {
      nodes.push(h("strong", {}, ...inline(part.slice(2, -2))));
    } else if (part.startsWith("`") && part.endsWith("`") && part.length > 2) {
      nodes.push(h("code", {}, part.slice(1, -1)));
    } else if (/^(\*[^*].*\*|_[^_].*_)$/.test(part)) {
      nodes.push(h("em", {}, ...inline(part.slice(1, -1))));
    } else if (part.startsWith("[")) {
      const match = part.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
      const href = match && safeUrl(match[2]);
      nodes.push(href ? h("a", { href, target: "_blank", rel: "noopener noreferrer" }, match[1]) : part);
    } else {
      nodes.push(part);
    }
  }
  return nodes;
}

/** Only web and mail links; "javascript:" and friends stay text. */
function safeUrl(url) {
  try {
    const parsed = new URL(url, window.location.href);
    return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

/** Markdown text → a DocumentFragment of safe nodes. */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  let list = null;
  let paragraph = null;
  for (const line of String(text).split("\n")) {
    const bullet = line.match(/^\s*[-*•]\s+(.*)$/);
    const numbered = line.match(/^\s*(\d+)[.)]\s+(.*)$/);
    if (bullet || numbered) {
      const kind = bullet ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== kind) {
        list = h(kind, numbered && numbered[1] !== "1" ? { start: numbered[1] } : {});
        fragment.appendChild(list);
      }
      list.appendChild(h("li", {}, ...inline(bullet ? bullet[1] : numbered[2])));
      paragraph = null;
      continue;
    }
    list = null;
    if (!line.trim()) {
      paragraph = null;
      continue;
    }
    if (paragraph) paragraph.appendChild(h("br"));
    else fragment.appendChild((paragraph = h("p")));
    for (const node of inline(line)) paragraph.appendChild(node instanceof Node ? node : document.createTextNode(node));
  }
  return fragment;
}

/** What a screen reader or speech synthesis should say for a markdown reply. */
export function plainText(text) {
  return String(text)
    .replace(/\[([^\]]+)\]\([^)]+\)/g, "$1")
    .replace(/[*_`]/g, "")
    .replace(/^\s*[-•]\s+/gm, "");
}
