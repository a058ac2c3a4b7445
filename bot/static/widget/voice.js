// Microphone capture for the widget: 16 kHz PCM16 chunks, a level for the meter, and a simple
// energy voice-activity detector for hands-free mode (speech starts above an adaptive noise
// floor, ends after a stretch of quiet).

const TARGET_RATE = 16000;
const CHUNK_SAMPLES = 1600; // 100 ms per socket.io message
const PRE_ROLL_BLOCKS = 15; // 300 ms kept before speech starts, so the first syllable is not cut
const START_BLOCKS = 3; // 60 ms above the threshold starts an utterance
// While the bot is speaking, what echo cancellation leaves of its voice must not start an utterance
// (and cut the reply off): speech must last 100 ms and be twice as loud as the loudest the
// microphone heard in the second before (the echo), after at least half a second of listening.
const GUARDED_START_BLOCKS = 5;
const ECHO_HISTORY_BLOCKS = 50; // 1 s of 20 ms blocks
const ECHO_WARMUP_BLOCKS = 25;
const END_SILENCE_MS = 700; // this much quiet ends it
const MAX_UTTERANCE_MS = 25000; // under the gateway's 30 s limit

/** Why the microphone cannot be used, in words for the shopper. */
export function microphoneProblem(error) {
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return "Voice needs a secure page (https or localhost) in a browser that allows microphones. You can still type.";
  }
  const name = error && error.name;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "Microphone access was denied. Allow the microphone for this site in your browser's settings, or type instead.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "No microphone was found. Plug one in, or type instead.";
  }
  if (name === "NotReadableError") {
    return "The microphone is busy in another application. Close it there, or type instead.";
  }
  return `The microphone could not start (${name || "unknown error"}). You can still type.`;
}

/** Float32 samples at `rate` → Int16 samples at 16 kHz (averaging each output sample's span). */
export function toPcm16(samples, rate) {
  const ratio = Math.max(1, rate / TARGET_RATE);
  const out = new Int16Array(Math.floor(samples.length / ratio));
  for (let i = 0; i < out.length; i++) {
    const start = Math.floor(i * ratio);
    const end = Math.max(start + 1, Math.floor((i + 1) * ratio));
    let sum = 0;
    for (let j = start; j < end; j++) sum += samples[j];
    const value = Math.max(-1, Math.min(1, sum / (end - start)));
    out[i] = value < 0 ? value * 0x8000 : value * 0x7fff;
  }
  return out;
}

export class Microphone {
  /**
   * handlers: onLevel(0..1), onStart(onsetAt), onEnd(reason), onChunk(ArrayBuffer, seq)
   * mode: "push" (the caller ends the utterance) or "hands-free" (the detector does)
   */
  constructor(workletUrl, handlers) {
    this.workletUrl = workletUrl;
    this.handlers = handlers;
    this.mode = "push";
    this.guard = false; // the bot is speaking: see GUARDED_START_BLOCKS
    this.context = null;
    this.stream = null;
    this.reset();
  }

  reset() {
    this.speaking = false;
    this.pending = [];
    this.preRoll = [];
    this.seq = 0;
    this.loudBlocks = 0;
    this.loudSince = 0;
    this.recent = []; // block levels of the last second, for the echo estimate
    this.quietMs = 0;
    this.spokenMs = 0;
    this.noiseFloor = 0.003;
  }

  get open() {
    return this.context !== null;
  }

  /** Opens the microphone; throws with a shopper-facing message when it cannot. */
  async openMicrophone() {
    if (this.context) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw new Error(microphoneProblem(null));
    try {
      // Echo cancellation keeps spoken replies out of hands-free mode; the browser's noise
      // suppression is left off because it smears the consonants Whisper needs.
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: false, autoGainControl: true },
      });
    } catch (error) {
      throw new Error(microphoneProblem(error));
    }
    // A 16 kHz context lets the browser's own resampler do the work (Chrome, Safari); where a
    // stream cannot feed a context at another rate (Firefox), toPcm16 downsamples instead.
    let context = new AudioContext({ sampleRate: TARGET_RATE });
    let source;
    try {
      source = context.createMediaStreamSource(this.stream);
    } catch {
      context.close();
      context = new AudioContext();
      source = context.createMediaStreamSource(this.stream);
    }
    await context.audioWorklet.addModule(this.workletUrl);
    const node = new AudioWorkletNode(context, "shopkeeper-capture");
    node.port.onmessage = (event) => this.onBlock(event.data, context.sampleRate);
    source.connect(node);
    this.context = context;
    this.node = node;
  }

  close() {
    if (this.speaking) this.finish("closed");
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    if (this.context) this.context.close();
    this.context = null;
    this.stream = null;
    this.reset();
  }

  /** Push-to-talk: everything from now until finish() is one utterance. */
  begin() {
    this.reset();
    this.speaking = true;
    this.handlers.onStart(performance.now());
  }

  finish(reason = "released") {
    if (!this.speaking) return;
    this.flush(true);
    this.speaking = false;
    this.handlers.onEnd(reason, this.seq);
    this.seq = 0;
  }

  onBlock(block, rate) {
    let energy = 0;
    for (const sample of block) energy += sample * sample;
    const rms = Math.sqrt(energy / block.length);
    const blockMs = (block.length / rate) * 1000;
    this.handlers.onLevel(Math.min(1, rms * 8));
    const pcm = toPcm16(block, rate);
    if (this.mode === "hands-free") this.detect(rms, pcm, blockMs);
    else if (this.speaking) this.keep(pcm, blockMs);
  }

  detect(rms, pcm, blockMs) {
    this.recent.push(rms);
    if (this.recent.length > ECHO_HISTORY_BLOCKS) this.recent.shift();
    // The echo estimate leaves out the run being judged (its first blocks are the shopper's).
    const before = this.recent.slice(0, -(GUARDED_START_BLOCKS + 1));
    const echo = before.length ? Math.max(...before) : Infinity;
    const warm = before.length >= ECHO_WARMUP_BLOCKS;
    const threshold = this.guard
      ? (warm ? Math.max(this.noiseFloor * 7, 0.024, echo * 2) : Infinity)
      : Math.max(this.noiseFloor * 3.5, 0.012);
    const loud = rms > threshold;
    if (!this.speaking) {
      // The floor follows the room while nobody speaks: quickly down, slowly up.
      this.noiseFloor = rms < this.noiseFloor ? rms * 0.5 + this.noiseFloor * 0.5 : this.noiseFloor * 0.995 + rms * 0.005;
      this.preRoll.push(pcm);
      if (this.preRoll.length > PRE_ROLL_BLOCKS) this.preRoll.shift();
      this.loudBlocks = loud ? this.loudBlocks + 1 : 0;
      if (this.loudBlocks === 1) this.loudSince = performance.now() - blockMs;
      if (this.loudBlocks >= (this.guard ? GUARDED_START_BLOCKS : START_BLOCKS)) {
        this.speaking = true;
        this.quietMs = 0;
        this.spokenMs = 0;
        this.handlers.onStart(this.loudSince);
        for (const early of this.preRoll) this.keep(early, 0);
        this.preRoll = [];
      }
      return;
    }
    this.keep(pcm, blockMs);
    this.quietMs = loud ? 0 : this.quietMs + blockMs;
    if (this.quietMs >= END_SILENCE_MS) this.finish("silence");
    else if (this.spokenMs >= MAX_UTTERANCE_MS) this.finish("too long");
  }

  keep(pcm, blockMs) {
    this.pending.push(pcm);
    this.spokenMs += blockMs;
    if (this.mode === "push" && this.spokenMs >= MAX_UTTERANCE_MS) {
      this.finish("too long");
      return;
    }
    this.flush(false);
  }

  /** Sends whole 100 ms chunks (or everything left, at the end) in order. */
  flush(all) {
    const size = this.pending.reduce((n, part) => n + part.length, 0);
    if (size === 0 || (!all && size < CHUNK_SAMPLES)) return;
    const joined = new Int16Array(size);
    let offset = 0;
    for (const part of this.pending) {
      joined.set(part, offset);
      offset += part.length;
    }
    const whole = all ? size : size - (size % CHUNK_SAMPLES);
    for (let start = 0; start < whole; start += CHUNK_SAMPLES) {
      const piece = joined.slice(start, Math.min(start + CHUNK_SAMPLES, whole));
      this.handlers.onChunk(piece.buffer, this.seq++);
    }
    this.pending = whole < size ? [joined.slice(whole)] : [];
  }
}
