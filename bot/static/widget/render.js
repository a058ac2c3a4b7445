// One chat message → DOM. Bot payloads are rasa-webchat's shapes ({text, quick_replies},
// {attachment: {type: "image"}}) plus Shopkeeper's custom {type: "products"} and {type: "cart"}.
import { cssColour, h, hue, icon, imageSource } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

/** A picture for a product drawn from its data: its colours, brand initial and type. */
function productArt(product) {
  const colours = (product.colors || []).map(cssColour).filter(Boolean);
  const base = hue(`${product.brand} ${product.product_type}`);
  const first = colours[0] || `hsl(${base} 55% 55%)`;
  const second = colours[1] || `hsl(${(base + 40) % 360} 60% 40%)`;
  return h("div", { class: "sk-art", role: "img", "aria-label": `${product.product_type || "product"} picture`,
                    style: { background: `linear-gradient(135deg, ${first}, ${second})` } },
    h("span", { class: "sk-art-initial", "aria-hidden": "true" }, (product.brand || "?").slice(0, 1)),
    h("span", { class: "sk-art-type", "aria-hidden": "true" }, product.product_type || product.category || ""));
}

function stars(rating, count) {
  const value = Number(rating) || 0;
  const full = Math.round(value);
  return h("div", { class: "sk-rating", "aria-label": `Rated ${value} out of 5 from ${count || 0} reviews` },
    h("span", { class: "sk-stars", "aria-hidden": "true" }, "★".repeat(full) + "☆".repeat(Math.max(0, 5 - full))),
    h("span", { class: "sk-rating-text", "aria-hidden": "true" }, ` ${value} (${count || 0})`));
}

function swatches(colours) {
  if (!colours || !colours.length) return null;
  return h("ul", { class: "sk-swatches", "aria-label": `Colours: ${colours.join(", ")}` },
    colours.map((name) => h("li", {
      class: "sk-swatch", title: name,
      style: { background: cssColour(name) || `hsl(${hue(name)} 30% 60%)` },
    })));
}

function productCard(product, send, index, total) {
  const label = product.position ? `${product.position}. ${product.name}` : product.name;
  return h("article", { class: "sk-card", role: "group", "aria-roledescription": "product",
                        "aria-label": total > 1 ? `${index + 1} of ${total}: ${product.name}` : product.name },
    productArt(product),
    h("div", { class: "sk-card-body" },
      h("h3", { class: "sk-card-name" }, label),
      h("div", { class: "sk-card-brand" }, product.brand),
      h("div", { class: "sk-card-price" }, product.price_text || String(product.price),
        product.in_stock === false ? h("span", { class: "sk-out" }, " · out of stock") : null),
      stars(product.rating, product.review_count),
      swatches(product.colors),
      h("div", { class: "sk-card-actions" },
        (product.buttons || []).map((button) => h("button", {
          type: "button", class: "sk-button", "data-payload": button.payload,
          "aria-label": `${button.title}: ${product.name}`,
          onclick: () => send(button.payload, button.title),
        }, button.title)))));
}

function carousel(products, send) {
  const track = h("div", { class: "sk-track", tabindex: "0", "aria-label": "Products, scroll sideways" },
    products.map((p, i) => productCard(p, send, i, products.length)));
  if (products.length < 2) return h("div", { class: "sk-carousel sk-single" }, track);
  const step = (direction) => track.scrollBy({ left: direction * (track.clientWidth * 0.8), behavior: "smooth" });
  const prev = h("button", { type: "button", class: "sk-nav sk-prev", "aria-label": "Previous products", onclick: () => step(-1) }, "‹");
  const next = h("button", { type: "button", class: "sk-nav sk-next", "aria-label": "Next products", onclick: () => step(1) }, "›");
  // Each arrow shows only while there is something on its side.
  const update = () => {
    prev.hidden = track.scrollLeft <= 4;
    next.hidden = track.scrollLeft + track.clientWidth >= track.scrollWidth - 4;
  };
  track.addEventListener("scroll", update, { passive: true });
  new ResizeObserver(update).observe(track); // also when a hidden panel opens
  prev.hidden = true;
  return h("div", { class: "sk-carousel", role: "region", "aria-label": `${products.length} products` }, prev, track, next);
}

function quickReplies(replies, send) {
  // They stay usable after later messages: a shopper may go back to an earlier choice.
  return h("div", { class: "sk-quick", role: "group", "aria-label": "Suggested replies" },
    replies.map((reply) => h("button", {
      type: "button", class: "sk-chip", "data-payload": reply.payload,
      onclick: () => send(reply.payload, reply.title),
    }, reply.title)));
}

/** A bot payload → a DOM node for the log (null for payloads that are state, like the cart). */
export function renderBot(payload, send) {
  if (payload.type === "products" && Array.isArray(payload.products)) {
    return h("div", { class: "sk-msg sk-bot sk-wide" }, carousel(payload.products, send));
  }
  if (payload.type === "cart") return null;
  if (payload.from === "agent" && typeof payload.text === "string") {
    // A person from the shop (bot/agent_inbox.py): their name over plain text, never markdown.
    return h("div", { class: "sk-msg sk-bot sk-agent" },
      h("div", { class: "sk-agent-name" }, `${payload.agent || "Shop team"} · shop team`),
      h("div", { class: "sk-bubble" }, payload.text));
  }
  const parts = [];
  if (typeof payload.text === "string" && payload.text) {
    parts.push(h("div", { class: "sk-bubble" }, renderMarkdown(payload.text)));
  }
  const attachment = payload.attachment;
  const image = attachment && attachment.type === "image" && attachment.payload
    ? imageSource(attachment.payload.src) : null;
  if (image) {
    parts.push(h("img", { class: "sk-image", src: image, alt: attachment.payload.title || "image from the shop" }));
  }
  if (Array.isArray(payload.quick_replies) && payload.quick_replies.length) {
    parts.push(quickReplies(payload.quick_replies, send));
  }
  if (!parts.length && payload.text === undefined) {
    parts.push(h("div", { class: "sk-bubble sk-muted" }, "(a reply this chat cannot show)"));
  }
  return h("div", { class: "sk-msg sk-bot" }, parts);
}

export function renderUser(text, { pending = false, voice = false } = {}) {
  return h("div", { class: `sk-msg sk-user${pending ? " sk-pending" : ""}` },
    h("div", { class: "sk-bubble" }, voice ? h("span", { class: "sk-voice-mark", role: "img", "aria-label": "spoken" }, icon("mic")) : null,
      h("span", { class: "sk-user-text" }, text)));
}

export function renderNotice(text, kind = "info") {
  return h("div", { class: `sk-notice sk-${kind}`, role: kind === "error" ? "alert" : null }, text);
}
