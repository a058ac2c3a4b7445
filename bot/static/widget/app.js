// The Shopkeeper chat bubble: a launcher, a panel with the conversation, text and voice input.
// mount(options) is called by /widget.js (the one-line embed); see the README for the options.
import { Connection } from "./connection.js";
import { h, icon } from "./dom.js";
import { plainText } from "./markdown.js";
import { renderBot, renderNotice, renderUser } from "./render.js";
import { Microphone } from "./voice.js";

const MAX_CHARS = 2000; // the gateway's limit
const KEPT_ENTRIES = 300; // messages remembered across reloads

const DEFAULTS = {
  gateway: window.location.origin,
  title: "Shopkeeper",
  subtitle: "Ask, or press the microphone and speak",
  color: "#1f6f5c",
  textColor: "#ffffff",
  open: false,
  position: "right",
  fullPage: false,
  voice: "browser", // spoken replies: "browser" (speechSynthesis) or "server" (the gateway's bot_audio)
};

function store(key, fallback) {
  try {
    const value = localStorage.getItem(key);
    return value === null ? fallback : JSON.parse(value);
  } catch {
    return fallback;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // A full or blocked localStorage only costs persistence.
  }
}

function safeColour(value, fallback) {
  return typeof value === "string" && CSS.supports("color", value) ? value : fallback;
}

class ChatWidget {
  constructor(options) {
    this.options = { ...DEFAULTS, ...options };
    this.base = new URL("./", import.meta.url);
    this.unread = 0;
    this.waiting = 0;
    this.pendingVoice = null;
    this.metrics = { readyAt: null, voiceTurns: [], partials: 0, bargeIns: [], spokenReplies: 0 };
    this.playing = []; // server voice: sources scheduled or playing
    this.interrupted = false; // the shopper spoke over the reply being played
    this.output = null; // server voice: the AudioContext that plays it
    this.speakReplies = store("shopkeeper.speak", false);
    this.handsFree = false;
    this.build();
    this.connection = new Connection(this.options.gateway, "shopkeeper.session", this.options.voice === "server");
    this.restoreLog();
    this.listen();
    this.mic = new Microphone(new URL("capture-worklet.js", this.base).href, {
      onLevel: (level) => this.showLevel(level),
      onStart: (onsetAt) => this.voiceStarted(onsetAt),
      onEnd: (reason, chunks) => this.voiceEnded(reason, chunks),
      // Hands-free, the gateway hears when the shopper has finished (it answers sooner than our
      // silence detector); pressing and releasing the button is the shopper's own end of turn.
      onChunk: (chunk, seq) => this.connection.sendAudio(chunk, seq, this.handsFree ? "gateway" : "client"),
    });
    // Opening on load does not take the focus from the shop's page.
    this.setOpen(this.options.open || this.options.fullPage || store("shopkeeper.open", false), false);
  }

  // -- layout ---------------------------------------------------------------------------------
  build() {
    const o = this.options;
    this.host = h("div", { id: "shopkeeper-widget" });
    const root = this.host.attachShadow({ mode: "open" });
    root.appendChild(h("link", { rel: "stylesheet", href: new URL("widget.css", this.base).href }));
    const side = o.position === "left" ? "left" : "right";
    this.frame = h("div", {
      class: `sk-root sk-${side}${o.fullPage ? " sk-full" : ""}`,
    });
    this.frame.style.setProperty("--sk-accent", safeColour(o.color, DEFAULTS.color));
    this.frame.style.setProperty("--sk-on-accent", safeColour(o.textColor, DEFAULTS.textColor));

    this.unreadBadge = h("span", { class: "sk-unread", hidden: true, "aria-hidden": "true" });
    this.launcher = h("button", {
      type: "button", class: "sk-launcher", "aria-label": `Open ${o.title} chat`, "aria-expanded": "false",
      "aria-controls": "sk-panel", onclick: () => this.setOpen(!this.isOpen),
    }, h("span", { class: "sk-launcher-icon" }, icon("chat")), this.unreadBadge);

    this.cartBadge = h("span", { class: "sk-cart", role: "status", "aria-label": "Cart is empty", hidden: true },
      h("span", { class: "sk-cart-icon" }, icon("cart")),
      (this.cartCount = h("span", { class: "sk-cart-count" }, "0")),
      (this.cartTotal = h("span", { class: "sk-cart-total" }, "")));
    this.speakToggle = h("button", {
      type: "button", class: "sk-icon-button sk-speak", "aria-pressed": String(this.speakReplies),
      title: "Read replies aloud", "aria-label": "Read replies aloud", onclick: () => this.toggleSpeech(),
    }, icon("speaker"));
    const header = h("header", { class: "sk-header" },
      h("div", { class: "sk-titles" }, h("h2", { class: "sk-title", id: "sk-title" }, o.title),
        (this.statusLine = h("div", { class: "sk-subtitle" }, o.subtitle))),
      this.cartBadge, this.speakToggle,
      h("button", { type: "button", class: "sk-icon-button", title: "New conversation", "aria-label": "Start a new conversation",
                    onclick: () => this.restart() }, "↻"),
      o.fullPage ? null : h("button", { type: "button", class: "sk-icon-button sk-close", "aria-label": "Close chat",
                                        onclick: () => this.setOpen(false) }, "✕"));

    this.log = h("div", { class: "sk-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
                          "aria-label": "Conversation", tabindex: "0" });
    this.typing = h("div", { class: "sk-typing", hidden: true, "aria-label": `${o.title} is typing`, role: "status" },
      h("span"), h("span"), h("span"));

    this.input = h("textarea", { class: "sk-input", rows: "1", maxlength: String(MAX_CHARS), placeholder: "Type a message…",
                                 "aria-label": "Message", enterkeyhint: "send" });
    this.input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.sendButton = h("button", { type: "button", class: "sk-send", "aria-label": "Send message", onclick: () => this.submit() }, "➤");
    this.micButton = h("button", { type: "button", class: "sk-mic", "aria-pressed": "false",
                                   "aria-label": "Push to talk", title: "Press to talk, press again to send (or hold and release)" }, icon("mic"));
    this.bindPushToTalk();
    this.handsFreeToggle = h("button", { type: "button", class: "sk-handsfree", "aria-pressed": "false",
                                         onclick: () => this.toggleHandsFree() }, "Hands-free");
    this.meter = h("div", { class: "sk-meter", "aria-hidden": "true" }, (this.meterBar = h("span")));
    this.voiceStatus = h("div", { class: "sk-voice-status", role: "status" });
    const composer = h("div", { class: "sk-composer" },
      h("div", { class: "sk-row" }, this.input, this.sendButton, this.micButton),
      h("div", { class: "sk-row sk-voice-row" }, this.handsFreeToggle, this.meter, this.voiceStatus));

    this.panel = h("section", { class: "sk-panel", id: "sk-panel", role: o.fullPage ? "region" : "dialog",
                                "aria-labelledby": "sk-title", hidden: true },
      header, this.log, this.typing, composer);
    this.panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !o.fullPage) this.setOpen(false);
    });
    this.frame.append(this.panel, o.fullPage ? "" : this.launcher);
    root.appendChild(this.frame);
    document.body.appendChild(this.host);
  }

  get isOpen() {
    return !this.panel.hidden;
  }

  setOpen(open, focus = true) {
    this.panel.hidden = !open;
    this.launcher.setAttribute("aria-expanded", String(open));
    this.launcher.setAttribute("aria-label", `${open ? "Close" : "Open"} ${this.options.title} chat`);
    this.frame.classList.toggle("sk-open", open);
    if (!this.options.fullPage) save("shopkeeper.open", open);
    if (open) {
      this.unread = 0;
      this.showUnread();
      this.scrollDown();
      if (focus) this.input.focus();
    } else if (this.launcher.isConnected && this.host.shadowRoot.activeElement) {
      this.launcher.focus();
    }
  }

  // -- conversation ---------------------------------------------------------------------------
  listen() {
    const c = this.connection;
    c.addEventListener("status", (e) => {
      this.statusLine.textContent = e.detail.connected ? this.options.subtitle : "Reconnecting…";
      this.frame.classList.toggle("sk-offline", !e.detail.connected);
    });
    c.addEventListener("session", (e) => {
      if (this.entriesSession && this.entriesSession !== e.detail.sessionId) this.clearLog();
      this.entriesSession = e.detail.sessionId;
      this.saveLog();
      if (this.metrics.readyAt === null) this.metrics.readyAt = performance.now();
      this.frame.dataset.ready = "true";
    });
    c.addEventListener("bot_uttered", (e) => this.onBot(e.detail));
    c.addEventListener("bot_audio", (e) => this.playServerVoice(e.detail));
    c.addEventListener("transcript", (e) => this.onTranscript(e.detail));
    c.addEventListener("turn_end", () => this.setWaiting(-1));
    c.addEventListener("error", (e) => this.onError(e.detail));
  }

  send(text, shown = text) {
    if (!this.connection.connected) {
      this.notice("Not connected to the shop right now; your message was not sent. Try again in a moment.", "error");
      return false;
    }
    this.addEntry({ who: "user", text: shown });
    this.connection.sendText(text);
    this.setWaiting(1);
    return true;
  }

  submit() {
    const text = this.input.value.trim();
    if (!text) {
      this.voiceStatus.textContent = "Type a message first.";
      return;
    }
    if (text.length > MAX_CHARS) {
      this.notice(`Messages can be up to ${MAX_CHARS} characters; this one has ${text.length}.`, "error");
      return;
    }
    if (this.send(text)) this.input.value = "";
  }

  onBot(payload) {
    const turn = this.metrics.voiceTurns.at(-1);
    if (turn && turn.replyAt === null) turn.replyAt = performance.now();
    this.addEntry({ who: "bot", payload });
    if (this.speakReplies && typeof payload.text === "string") this.say(payload.text);
    if (!this.isOpen) {
      this.unread += 1;
      this.showUnread();
    }
  }

  onError(detail) {
    this.setWaiting(-1);
    if (this.pendingVoice) {
      this.pendingVoice.remove();
      this.pendingVoice = null;
    }
    this.notice(detail.message || "Something went wrong; please try again.", "error");
  }

  setWaiting(delta) {
    this.waiting = Math.max(0, this.waiting + delta);
    this.typing.hidden = this.waiting === 0;
    if (this.waiting) this.scrollDown();
  }

  addEntry(entry, persist = true) {
    let node = null;
    if (entry.who === "user") node = renderUser(entry.text, { voice: entry.voice });
    else if (entry.payload.type === "cart") this.showCart(entry.payload);
    else node = renderBot(entry.payload, (payload, title) => this.send(payload, title));
    if (node) {
      this.log.appendChild(node);
      this.scrollDown();
    }
    if (persist) {
      this.entries.push(entry);
      this.saveLog();
    }
  }

  notice(text, kind = "info") {
    this.log.appendChild(renderNotice(text, kind));
    this.scrollDown();
  }

  scrollDown() {
    this.log.scrollTop = this.log.scrollHeight;
  }

  showUnread() {
    this.unreadBadge.hidden = this.unread === 0;
    this.unreadBadge.textContent = this.unread > 9 ? "9+" : String(this.unread);
    this.launcher.setAttribute("aria-label", this.unread ? `Open ${this.options.title} chat, ${this.unread} unread`
                                                          : `${this.isOpen ? "Close" : "Open"} ${this.options.title} chat`);
  }

  showCart(cart) {
    this.cartBadge.hidden = !cart.count;
    this.cartCount.textContent = String(cart.count);
    this.cartTotal.textContent = cart.total_text || "";
    this.cartBadge.setAttribute("aria-label", cart.count ? `Cart: ${cart.count} items, ${cart.total_text}` : "Cart is empty");
  }

  // -- persistence ----------------------------------------------------------------------------
  restoreLog() {
    const saved = store("shopkeeper.log", null);
    this.entries = [];
    this.entriesSession = saved && saved.session === this.connection.sessionId ? saved.session : null;
    if (this.entriesSession) for (const entry of saved.entries || []) this.addEntry(entry);
    if (!this.entries.length) this.notice(`Hi! I'm ${this.options.title}. Ask me to find products, track an order, or anything about the shop.`);
  }

  saveLog() {
    this.entries = this.entries.slice(-KEPT_ENTRIES);
    save("shopkeeper.log", { session: this.entriesSession, entries: this.entries });
  }

  clearLog() {
    this.entries = [];
    this.log.replaceChildren();
    this.showCart({ count: 0 });
  }

  restart() {
    this.clearLog();
    this.entriesSession = null;
    this.waiting = 0;
    this.setWaiting(0);
    this.connection.restart();
    this.notice("Started a new conversation.");
  }

  // -- voice ----------------------------------------------------------------------------------
  bindPushToTalk() {
    let pressedAt = 0;
    this.micButton.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || this.handsFree) return;
      pressedAt = performance.now();
      if (!this.mic.speaking) this.startPushToTalk();
      else pressedAt = 0;
    });
    this.micButton.addEventListener("pointerup", () => {
      // Held down: releasing sends. A quick tap keeps recording until the next press.
      if (pressedAt && performance.now() - pressedAt > 400 && this.mic.speaking) this.mic.finish("released");
      else if (!pressedAt && this.mic.speaking) this.mic.finish("released");
    });
    this.micButton.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" && event.key !== " ") return;
      event.preventDefault();
      if (this.handsFree) return;
      if (this.mic.speaking) this.mic.finish("released");
      else this.startPushToTalk();
    });
  }

  async startPushToTalk() {
    if (!(await this.openMicrophone())) return;
    this.mic.mode = "push";
    this.mic.begin();
  }

  async openMicrophone() {
    try {
      await this.mic.openMicrophone();
      return true;
    } catch (error) {
      this.voiceStatus.textContent = "";
      this.notice(error.message, "error");
      this.micButton.setAttribute("aria-disabled", "true");
      return false;
    }
  }

  async toggleHandsFree() {
    if (this.handsFree) {
      this.handsFree = false;
      this.mic.close();
    } else {
      if (!(await this.openMicrophone())) return;
      this.mic.mode = "hands-free";
      this.handsFree = true;
    }
    this.handsFreeToggle.setAttribute("aria-pressed", String(this.handsFree));
    this.frame.classList.toggle("sk-listening", this.handsFree);
    this.voiceStatus.textContent = this.handsFree ? "Listening — just speak." : "";
    if (!this.handsFree) this.showLevel(0);
  }

  voiceStarted(onsetAt) {
    // Barge-in: the shopper speaks over a reply; the reply stops, the shopper is heard.
    if (this.talking()) {
      this.stopSpeaking();
      this.interrupted = true; // the rest of that reply's sentences are not played
      this.metrics.bargeIns.push({ onsetAt, stoppedAt: performance.now() });
    }
    this.micButton.setAttribute("aria-pressed", "true");
    this.frame.classList.add("sk-recording");
    this.voiceStatus.textContent = "Hearing you…";
    if (this.pendingVoice) this.pendingVoice.remove();
    this.pendingVoice = renderUser("…", { pending: true, voice: true });
    this.log.appendChild(this.pendingVoice);
    this.scrollDown();
  }

  voiceEnded(reason, chunks) {
    this.micButton.setAttribute("aria-pressed", "false");
    this.frame.classList.remove("sk-recording");
    if (!this.handsFree && this.mic.open) this.mic.close();
    if (!chunks) {
      if (this.pendingVoice) this.pendingVoice.remove();
      this.pendingVoice = null;
      this.voiceStatus.textContent = "Nothing was recorded; try again.";
      return;
    }
    // "gateway": the gateway ended the turn itself; it needs no user_audio_end.
    if (reason !== "gateway") this.connection.endAudio();
    // In hands-free mode the detector (or the gateway) waited for some silence; the speech ended that long ago.
    const endedAt = performance.now() - (reason === "silence" || reason === "gateway" ? this.mic.quietMs : 0);
    this.metrics.voiceTurns.push({ speechEndAt: endedAt, transcriptAt: null, replyAt: null });
    // Keep a partial transcript's words on screen until the final one replaces them.
    if (this.pendingVoice?.querySelector(".sk-user-text")?.textContent === "…") this.setText(this.pendingVoice, "Transcribing…");
    this.voiceStatus.textContent = this.handsFree ? "Listening — just speak." : "";
    this.setWaiting(1);
  }

  onTranscript(detail) {
    // The gateway heard the end of the turn during the pause our own detector is still timing.
    const endedByGateway = detail.final !== false && detail.ended_by && detail.ended_by !== "client";
    if (endedByGateway && this.handsFree && this.mic.speaking && this.mic.quietMs > 0) this.mic.finish("gateway");
    const turn = this.metrics.voiceTurns.at(-1);
    if (turn && detail.final !== false && turn.transcriptAt === null) turn.transcriptAt = performance.now();
    const bubble = this.pendingVoice;
    if (!bubble) return;
    if (detail.final === false) {
      this.metrics.partials = (this.metrics.partials || 0) + 1;
      this.setText(bubble, detail.text || "…");
      return;
    }
    bubble.remove();
    this.pendingVoice = null;
    if (detail.text) this.addEntry({ who: "user", text: detail.text, voice: true });
  }

  setText(bubble, text) {
    const span = bubble && bubble.querySelector(".sk-user-text");
    if (span) span.textContent = text;
  }

  showLevel(level) {
    if (this.levelFrame) return;
    this.levelFrame = requestAnimationFrame(() => {
      this.meterBar.style.width = `${Math.round(level * 100)}%`;
      this.levelFrame = null;
    });
  }

  toggleSpeech() {
    this.speakReplies = !this.speakReplies;
    save("shopkeeper.speak", this.speakReplies);
    this.speakToggle.setAttribute("aria-pressed", String(this.speakReplies));
    if (!this.speakReplies) this.stopSpeaking();
  }

  say(text) {
    if (this.options.voice === "server" || !window.speechSynthesis) return; // the server's voice comes as bot_audio
    const utterance = new SpeechSynthesisUtterance(plainText(text));
    const settle = () => this.updateGuard();
    utterance.onstart = settle;
    utterance.onend = settle;
    utterance.onerror = settle;
    window.speechSynthesis.speak(utterance);
    this.updateGuard();
  }

  /** One sentence of the gateway's voice, played after those before it. */
  async playServerVoice(detail) {
    if (detail.seq === 0) this.interrupted = false; // a new reply
    if (!this.speakReplies || this.interrupted || !(detail.audio instanceof ArrayBuffer)) return;
    try {
      this.output = this.output || new AudioContext();
      const buffer = await this.output.decodeAudioData(detail.audio.slice(0));
      const source = this.output.createBufferSource();
      source.buffer = buffer;
      source.connect(this.output.destination);
      const last = this.playing.at(-1);
      const startAt = Math.max(this.output.currentTime, last ? last.endsAt : 0);
      source.start(startAt);
      const entry = { source, endsAt: startAt + buffer.duration };
      this.playing.push(entry);
      this.metrics.spokenReplies += 1;
      source.onended = () => {
        this.playing = this.playing.filter((p) => p !== entry);
        this.updateGuard();
      };
      this.updateGuard();
    } catch {
      // An unplayable sentence is skipped; the reply is on the screen.
    }
  }

  talking() {
    const browser = window.speechSynthesis && (window.speechSynthesis.speaking || window.speechSynthesis.pending);
    return Boolean(browser) || this.playing.length > 0;
  }

  stopSpeaking() {
    if (window.speechSynthesis) window.speechSynthesis.cancel();
    for (const { source } of this.playing) {
      try {
        source.onended = null;
        source.stop();
      } catch {
        // already stopped
      }
    }
    this.playing = [];
    this.updateGuard();
  }

  /** While a reply is spoken, the microphone needs louder, longer speech to start an utterance. */
  updateGuard() {
    this.mic.guard = this.talking();
  }
}

export function mount(options = {}) {
  const widget = new ChatWidget(options);
  window.Shopkeeper = {
    open: () => widget.setOpen(true),
    close: () => widget.setOpen(false),
    metrics: widget.metrics,
    widget,
  };
  return widget;
}
