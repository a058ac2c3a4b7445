// The gateway's socket.io protocol (Rasa's socketio channel plus voice events, see the README).
// The session id lives in localStorage, so a reload rejoins the same Rasa conversation.
import { io } from "../vendor/socket.io.esm.min.js";

const RICH = { rich: true, client: "shopkeeper-widget" };

// Storage can be blocked (privacy settings, sandboxed frames): the chat then works unpersisted.
function readKey(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function writeKey(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // not persisted
  }
}

export class Connection extends EventTarget {
  constructor(gatewayUrl, storageKey, speak = false) {
    super();
    this.storageKey = storageKey;
    this.speak = speak; // ask the gateway for spoken replies (bot_audio)
    this.sessionId = readKey(storageKey);
    this.socket = io(gatewayUrl, { transports: ["websocket", "polling"], reconnectionDelayMax: 5000 });
    this.socket.on("connect", () => {
      this.emitEvent("status", { connected: true });
      this.socket.emit("session_request", { session_id: this.sessionId, speak: this.speak });
    });
    this.socket.on("disconnect", () => this.emitEvent("status", { connected: false }));
    this.socket.on("connect_error", () => this.emitEvent("status", { connected: false }));
    this.socket.on("session_confirm", (data) => {
      const id = typeof data === "string" ? data : data && data.session_id;
      if (id) {
        this.sessionId = id;
        writeKey(storageKey, id);
      }
      this.emitEvent("session", { sessionId: this.sessionId });
    });
    for (const name of ["bot_uttered", "bot_audio", "transcript", "turn_end", "error"]) {
      this.socket.on(name, (data) => this.emitEvent(name, data || {}));
    }
  }

  emitEvent(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  get connected() {
    return this.socket.connected;
  }

  sendText(message) {
    this.socket.emit("user_uttered", { message, session_id: this.sessionId, customData: RICH });
  }

  /** One chunk of 16 kHz mono PCM16 audio for the utterance being spoken (partial transcripts wanted). */
  sendAudio(chunk, seq, endOfTurn = "client") {
    // customData on every chunk: a turn the gateway ends gets no user_audio_end to carry it.
    const payload = { chunk, seq, format: "pcm16", sample_rate: 16000, channels: 1, partial: true, end_of_turn: endOfTurn, customData: RICH };
    this.socket.emit("user_audio", payload);
  }

  endAudio() {
    this.socket.emit("user_audio_end", { session_id: this.sessionId, customData: RICH });
  }

  /** Forget this conversation: the next session_request starts a new one. */
  restart() {
    writeKey(this.storageKey, null);
    this.sessionId = null;
    this.socket.emit("session_request", { session_id: null });
  }
}
