// End-to-end encryption of chats, as specified in docs/protocol.md; shared by the widget and
// the console. What a visitor's chat does not need is elsewhere: e2e-keys.js (sealing, the
// records key, drops, padding, importState; the widget loads it on demand) and
// e2e-counsellor.js (the counsellor's side of the handshake, box keys; the console only).
// The Python twin of both is chatserver/crypto.py; both pass tests/vectors/e2e.json.
//
// tweetnacl is taken from globalThis.nacl: the page loads node_modules/tweetnacl/nacl-fast.min.js
// as a classic script (with Subresource Integrity), node tests assign require("tweetnacl").
// Keys never leave this module except where the caller asks for them; errors name what was
// wrong with a frame, never what was in it.

export const VERSION = 1;
export const VISITOR_HELLO = 0x01;
export const COUNSELLOR_HELLO = 0x02;
export const MESSAGE = 0x03;
export const CONTINUED_HELLO = 0x04;
export const BUCKETS = Object.freeze([256, 1024, 4096, 16384]);
export const WINDOW = 32;
export const DEFAULT_REVOCATION_MAX_AGE_S = 30 * 86400;

const HEADER = 1 + 8;
const NONCE = 24;
const TAG = 16;
const INNER = HEADER + 4;
const MESSAGE_OVERHEAD = HEADER + NONCE + TAG + INNER;
export const MAX_PAYLOAD = BUCKETS[BUCKETS.length - 1] - MESSAGE_OVERHEAD;
const KEY_BYTES = 32;
const CONTINUITY_TAG_BYTES = 32;
const SIG_BYTES = 64;
const SERIAL_BYTES = 16;
const MAX_PSEUDONYM_BYTES = 64;
const CLOCK_SKEW_S = 300;

function nacl() {
  const lib = globalThis.nacl;
  if (!lib || typeof lib.secretbox !== "function") throw new CryptoError("tweetnacl is not loaded");
  return lib;
}

// -- errors (the same codes as chatserver/crypto.py) ----------------------------------------

export class CryptoError extends Error {
  get code() { return "crypto"; }
  // The class itself is named by `code`; minified, constructor names are short.
  get name() { return "CryptoError"; }
}
export class MalformedFrame extends CryptoError { get code() { return "malformed"; } }
export class TruncatedFrame extends MalformedFrame { get code() { return "truncated"; } }
export class TamperedFrame extends CryptoError { get code() { return "tampered"; } }
export class ReplayedFrame extends CryptoError { get code() { return "replayed"; } }
export class ReorderedFrame extends CryptoError { get code() { return "reordered"; } }
export class CertificateError extends CryptoError { get code() { return "certificate"; } }
export class ExpiredCertificate extends CertificateError { get code() { return "expired"; } }
export class RevokedCertificate extends CertificateError { get code() { return "revoked"; } }
export class StaleRevocationList extends CertificateError { get code() { return "stale"; } }
export class HandshakeError extends CryptoError { get code() { return "handshake"; } }
export class WeakKey extends HandshakeError { get code() { return "weak_key"; } }
export class PayloadError extends CryptoError { get code() { return "payload"; } }
export class ForgedAnswer extends CryptoError { get code() { return "forged"; } }

// -- encodings ------------------------------------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const LABEL = encoder.encode("erstkontakt-e2e-v1");

export function utf8(text) { return encoder.encode(text); }

export function fromUtf8(bytes) { return decoder.decode(bytes); }

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** Standard base64 with padding, as on the wire. */
export function b64encode(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/** Strict standard base64. */
export function b64decode(text) {
  if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new MalformedFrame("not base64");
  }
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text) {
  if (typeof text !== "string" || text.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(text)) {
    throw new MalformedFrame("not hex");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

function u16(n) { return new Uint8Array([(n >>> 8) & 255, n & 255]); }
function u32(n) { const out = new Uint8Array(4); new DataView(out.buffer).setUint32(0, n); return out; }
function u64(n) {
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(n / 2 ** 32));
  view.setUint32(4, n >>> 0);
  return out;
}
function lp(bytes) { return concat(u16(bytes.length), bytes); }
function view(bytes) { return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength); }

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function bytesOf(value, what, length) {
  const bytes = typeof value === "string" ? b64decode(value) : value;
  if (!(bytes instanceof Uint8Array) || (length !== undefined && bytes.length !== length)) {
    throw new CryptoError(`${what} has the wrong length`);
  }
  return bytes;
}

/** HMAC-SHA-512 (RFC 2104) over nacl.hash. */
export function hmacSha512(key, msg) {
  const block = 128;
  const k = new Uint8Array(block);
  k.set(key.length > block ? nacl().hash(key) : key);
  const inner = new Uint8Array(block), outer = new Uint8Array(block);
  for (let i = 0; i < block; i++) { inner[i] = k[i] ^ 0x36; outer[i] = k[i] ^ 0x5c; }
  const result = nacl().hash(concat(outer, nacl().hash(concat(inner, msg))));
  k.fill(0); inner.fill(0); outer.fill(0);
  return result;
}

/** HKDF-SHA-512 (RFC 5869) for one 32-byte output. */
export function hkdfSha512(salt, ikm, info) {
  const prk = hmacSha512(salt, ikm);
  const okm = hmacSha512(prk, concat(info, new Uint8Array([1]))).slice(0, KEY_BYTES);
  prk.fill(0);
  return okm;
}

/** One ratchet step: [message key, next chain key]. */
export function ratchetStep(chainKey) {
  return [hmacSha512(chainKey, new Uint8Array([1])).slice(0, KEY_BYTES),
          hmacSha512(chainKey, new Uint8Array([2])).slice(0, KEY_BYTES)];
}

function nowSeconds() { return Math.floor(Date.now() / 1000); }

function wholeSeconds(value, what) {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new CertificateError(`${what} is not a whole number of seconds`);
  }
  return value;
}

function keyField(value, what) {
  let key;
  try { key = b64decode(value); } catch { throw new CertificateError(`${what} is not base64`); }
  if (key.length !== KEY_BYTES) throw new CertificateError(`${what} has the wrong length`);
  return key;
}

function sigField(value) {
  let sig;
  try { sig = b64decode(value); } catch { throw new CertificateError("signature is not base64"); }
  if (sig.length !== SIG_BYTES) throw new CertificateError("signature has the wrong length");
  return sig;
}

function serialField(value) {
  if (typeof value !== "string" || value.length !== 2 * SERIAL_BYTES) {
    throw new CertificateError("serial has the wrong length");
  }
  try { return fromHex(value); } catch { throw new CertificateError("serial is not hex"); }
}

function checkPseudonym(pseudonym) {
  if (typeof pseudonym !== "string" || !pseudonym.trim()) {
    throw new CertificateError("pseudonym is missing");
  }
  if (utf8(pseudonym).length > MAX_PSEUDONYM_BYTES) {
    throw new CertificateError("pseudonym is too long");
  }
  return pseudonym;
}

// -- certificates and revocation ------------------------------------------------------------

export function certificateBytes(key, pseudonym, issued, expires, serial) {
  return concat(LABEL, utf8("/cert\0"), key, u64(issued), u64(expires), serial,
                lp(utf8(pseudonym)));
}

/** Check a certificate against the pinned org key, the clock and the revoked keys. */
export function verifyCertificate(cert, orgPublicKey, now, revoked = []) {
  if (!cert || typeof cert !== "object" || cert.v !== VERSION) {
    throw new CertificateError("not a certificate of this version");
  }
  const key = keyField(cert.key, "identity key");
  const pseudonym = checkPseudonym(cert.pseudonym);
  const issued = wholeSeconds(cert.issued, "issued");
  const expires = wholeSeconds(cert.expires, "expires");
  const serial = serialField(cert.serial);
  const sig = sigField(cert.sig);
  const org = bytesOf(orgPublicKey, "organisation key", KEY_BYTES);
  if (!nacl().sign.detached.verify(certificateBytes(key, pseudonym, issued, expires, serial),
                                   sig, org)) {
    throw new CertificateError("certificate is not signed by the organisation");
  }
  if (now + CLOCK_SKEW_S < issued || now > expires) {
    throw new ExpiredCertificate("certificate is expired or not yet valid");
  }
  if (revoked.some((k) => equal(k, key))) throw new RevokedCertificate("certificate has been revoked");
  return { identityKey: key, pseudonym, expires };
}

export function revocationBytes(issued, revoked) {
  const keys = [...revoked].sort(compareBytes)
    .filter((k, i, all) => i === 0 || compareBytes(all[i - 1], k) !== 0);
  return concat(LABEL, utf8("/revocations\0"), u64(issued), u32(keys.length), ...keys);
}

/** The revoked keys, if the list is signed by the org key and not older than maxAge. */
export function verifyRevocationList(data, orgPublicKey, now,
                                     maxAge = DEFAULT_REVOCATION_MAX_AGE_S) {
  if (!data || typeof data !== "object" || data.v !== VERSION) {
    throw new CertificateError("not a revocation list of this version");
  }
  const issued = wholeSeconds(data.issued, "issued");
  if (!Array.isArray(data.revoked)) throw new CertificateError("revocation list has no key list");
  const keys = data.revoked.map((k) => keyField(k, "revoked key"));
  const org = bytesOf(orgPublicKey, "organisation key", KEY_BYTES);
  if (!nacl().sign.detached.verify(revocationBytes(issued, keys), sigField(data.sig), org)) {
    throw new CertificateError("revocation list is not signed by the organisation");
  }
  if (now - issued > maxAge) throw new StaleRevocationList("revocation list is too old");
  return keys;
}

/**
 * What jslib/e2e-keys.js (the sealing and key-binding half of this protocol) builds on; not
 * for pages.
 */
export const internal = Object.freeze({
  nacl, LABEL, u64, lp, keyField, wholeSeconds, serialField, sigField, bytesOf, equal,
  checkPseudonym, KEY_BYTES, CLOCK_SKEW_S, NONCE, TAG, WINDOW, CONTINUITY_TAG_BYTES,
  canonicalJson, helloTranscript,
  // Late-bound: the classes are declared below (the counsellor's side is e2e-counsellor.js).
  get Session() { return Session; },
  // Session classes by role, for importState (e2e-keys.js); e2e-counsellor.js adds its own.
  sessionClasses: new Map(),
});

// -- the chat session -----------------------------------------------------------------------

function helloTranscript(chatId, visitorPk, counsellorPk) {
  return concat(LABEL, utf8("/hello\0"), lp(utf8(chatId)), visitorPk, counsellorPk);
}

function transcriptHash(chatId, visitorPk, counsellorPk, identityPk) {
  return nacl().hash(concat(helloTranscript(chatId, visitorPk, counsellorPk), identityPk));
}

/** Twelve groups of five digits over both chat keys and the counsellor's identity. */
/** The tag by which an earlier session of `chatId` vouches for a new visitor chat key. */
export function continuityTag(key, chatId, visitorPk) {
  return hmacSha512(key, concat(LABEL, utf8("/continue\0"), lp(utf8(chatId)), visitorPk))
    .slice(0, CONTINUITY_TAG_BYTES);
}

export function safetyNumber(chatId, visitorPk, counsellorPk, identityPk) {
  const digest = nacl().hash(concat(LABEL, utf8("/safety\0"),
                                    transcriptHash(chatId, visitorPk, counsellorPk, identityPk)));
  const groups = [];
  for (let i = 0; i < 60; i += 5) {
    let n = 0;
    for (let j = 0; j < 5; j++) n = n * 256 + digest[i + j];
    groups.push(String(n % 100000).padStart(5, "0"));
  }
  return groups.join(" ");
}

/** Compact UTF-8 JSON of a structured message ({t: "text", body} and later kinds). */
export function encodePayload(payload) {
  if (!payload || typeof payload !== "object" || Array.isArray(payload) ||
      typeof payload.t !== "string") {
    throw new PayloadError("a message is an object with a string field 't'");
  }
  let text;
  try { text = JSON.stringify(payload); } catch { throw new PayloadError("message cannot be encoded as JSON"); }
  return utf8(text);
}

export function decodePayload(bytes) {
  let payload;
  try { payload = JSON.parse(fromUtf8(bytes)); } catch { throw new PayloadError("message is not UTF-8 JSON"); }
  if (!payload || typeof payload !== "object" || Array.isArray(payload) ||
      typeof payload.t !== "string") {
    throw new PayloadError("message is not an object with a string field 't'");
  }
  return payload;
}

/** The frame size a payload of this many bytes is padded to. */
export function bucketFor(payloadLength) {
  for (const bucket of BUCKETS) if (payloadLength + MESSAGE_OVERHEAD <= bucket) return bucket;
  throw new PayloadError("message is too long");
}

function canonicalJson(obj) {
  return "{" + Object.keys(obj).sort()
    .map((k) => JSON.stringify(k) + ":" + JSON.stringify(obj[k])).join(",") + "}";
}

class Session {
  constructor(chatId, random) {
    if (typeof chatId !== "string" || !chatId) throw new CryptoError("chat id is missing");
    this.chatId = chatId;
    this._random = random || ((n) => nacl().randomBytes(n));
    this._esk = this._random(KEY_BYTES);
    this.publicKey = nacl().scalarMult.base(this._esk);
    this._send = null; // {key, counter}
    this._recv = null;
    this._highest = 0;
    this._skipped = new Map();
    this._safety = "";
    this._material = null; // {visitorPk, counsellorPk, identityPk}: the safety number's inputs
    this._continuity = null; // authenticates the next handshake of this chat
  }

  get established() { return this._send !== null; }

  safetyNumber() {
    if (!this._safety) throw new HandshakeError("no session yet");
    return this._safety;
  }

  /** Forget every key of this session (call when the chat ends or is handed over). */
  destroy() {
    if (this._esk) this._esk.fill(0);
    for (const chain of [this._send, this._recv]) if (chain) chain.key.fill(0);
    for (const key of this._skipped.values()) key.fill(0);
    this._skipped.clear();
    if (this._continuity) this._continuity.fill(0);
    this._esk = this._continuity = null;
    this._send = this._recv = null;
  }

  _derive(peerPk, visitorPk, counsellorPk, identityPk, visitorSide) {
    if (!this._esk) throw new HandshakeError("this session already used its chat key");
    const shared = nacl().scalarMult(this._esk, peerPk);
    this._esk.fill(0);
    this._esk = null;
    if (shared.every((b) => b === 0)) throw new WeakKey("weak chat key: all-zero shared secret");
    const th = transcriptHash(this.chatId, visitorPk, counsellorPk, identityPk);
    const v2c = { key: hkdfSha512(th, shared, concat(LABEL, utf8(" v2c"))), counter: 1 };
    const c2v = { key: hkdfSha512(th, shared, concat(LABEL, utf8(" c2v"))), counter: 1 };
    this._continuity = hkdfSha512(th, shared, concat(LABEL, utf8(" continuity")));
    shared.fill(0);
    [this._send, this._recv] = visitorSide ? [v2c, c2v] : [c2v, v2c];
    this._safety = safetyNumber(this.chatId, visitorPk, counsellorPk, identityPk);
    this._material = { visitorPk, counsellorPk, identityPk };
  }

  /**
   * The established session as plain JSON (both chain keys, counters, skipped keys, the safety
   * number's inputs): secret, for storage encrypted at rest only (docs/protocol.md, "Reload
   * state"). The session goes on; a copy restored with importState() continues it.
   */
  exportState() {
    if (!this._send || !this._material) throw new HandshakeError("no session yet");
    const m = this._material;
    return {
      v: VERSION, role: this.role, chatId: this.chatId,
      send: { key: b64encode(this._send.key), counter: this._send.counter },
      recv: { key: b64encode(this._recv.key), counter: this._recv.counter },
      highest: this._highest,
      skipped: [...this._skipped].map(([n, k]) => [n, b64encode(k)]),
      visitorPk: b64encode(m.visitorPk), counsellorPk: b64encode(m.counsellorPk),
      identityPk: b64encode(m.identityPk), safetyNumber: this._safety,
      continuity: b64encode(this._continuity),
      ...(this.counsellor ? { pseudonym: this.counsellor.pseudonym } : {}),
    };
  }

  /** Seal one structured message; returns the frame bytes. */
  encrypt(payload, { nonce } = {}) {
    if (!this._send) throw new HandshakeError("no session yet");
    const data = encodePayload(payload);
    const bucket = bucketFor(data.length);
    const chain = this._send;
    const header = concat(new Uint8Array([MESSAGE]), u64(chain.counter));
    const [messageKey, next] = ratchetStep(chain.key);
    chain.key.fill(0);
    chain.key = next;
    chain.counter += 1;
    const inner = new Uint8Array(bucket - HEADER - NONCE - TAG);
    inner.set(header);
    inner.set(u32(data.length), HEADER);
    inner.set(data, INNER);
    nonce = nonce || this._random(NONCE);
    const boxed = nacl().secretbox(inner, nonce, messageKey);
    messageKey.fill(0);
    inner.fill(0);
    return concat(header, nonce, boxed);
  }

  _open(frame) {
    if (!this._recv) throw new HandshakeError("message before the handshake");
    if (frame.length < BUCKETS[0]) throw new TruncatedFrame("message frame is too short");
    if (!BUCKETS.includes(frame.length)) {
      throw new TruncatedFrame("message frame is not a padding bucket");
    }
    const header = frame.subarray(0, HEADER);
    const hi = view(frame).getUint32(1), lo = view(frame).getUint32(5);
    if (hi === 0 && lo === 0) throw new MalformedFrame("counter 0 is never used");
    // Beyond 2^53 a counter cannot be exact in JS; it is far outside the window anyway.
    const counter = hi >= 2 ** 21 ? Number.MAX_SAFE_INTEGER : hi * 2 ** 32 + lo;
    const nonce = frame.subarray(HEADER, HEADER + NONCE);
    const boxed = frame.subarray(HEADER + NONCE);
    const chain = this._recv;
    // Work on copies and commit only after the box opens: a forged frame burns nothing.
    const newSkipped = new Map();
    let nextChain = chain.key;
    let messageKey;
    if (counter > this._highest) {
      if (counter - this._highest > WINDOW) throw new ReorderedFrame("counter is too far ahead");
      for (let n = chain.counter; n <= counter; n++) {
        const [mk, ck] = ratchetStep(nextChain);
        if (nextChain !== chain.key) nextChain.fill(0);
        nextChain = ck;
        if (n < counter) newSkipped.set(n, mk); else messageKey = mk;
      }
    } else if (this._skipped.has(counter)) {
      messageKey = this._skipped.get(counter);
    } else if (counter > this._highest - WINDOW) {
      throw new ReplayedFrame("counter was already received");
    } else {
      throw new ReorderedFrame("counter is too old");
    }
    const inner = nacl().secretbox.open(boxed, nonce, messageKey);
    const discard = () => {
      if (counter > this._highest) {
        messageKey.fill(0);
        nextChain.fill(0);
        for (const k of newSkipped.values()) k.fill(0);
      }
    };
    if (!inner) { discard(); throw new TamperedFrame("message does not authenticate"); }
    if (!equal(inner.subarray(0, HEADER), header)) {
      discard();
      throw new TamperedFrame("message header does not match");
    }
    if (counter > this._highest) {
      chain.key.fill(0);
      chain.key = nextChain;
      chain.counter = counter + 1;
      for (const [n, k] of newSkipped) this._skipped.set(n, k);
      this._highest = counter;
      for (const [n, k] of this._skipped) {
        if (n <= counter - WINDOW) { k.fill(0); this._skipped.delete(n); }
      }
    } else {
      this._skipped.delete(counter);
    }
    messageKey.fill(0);
    const length = view(inner).getUint32(HEADER);
    if (length > inner.length - INNER) throw new PayloadError("message length is out of range");
    return decodePayload(inner.subarray(INNER, INNER + length));
  }
}

class VisitorSession extends Session {
  get role() { return "visitor"; }

  constructor({ orgPublicKey, chatId, revocationList, now, maxAge, random }) {
    super(chatId, random);
    this._org = bytesOf(orgPublicKey, "organisation key", KEY_BYTES);
    this._clock = now === undefined ? nowSeconds : () => now;
    this._revoked = verifyRevocationList(revocationList, this._org, this._clock(),
                                         maxAge === undefined ? DEFAULT_REVOCATION_MAX_AGE_S : maxAge);
    this.counsellor = null;
  }

  /**
   * The visitor-hello frame to send once the chat is accepted (or transferred). With
   * `previous` (an established session of the same chat), a continued hello that the earlier
   * session authenticates (docs/protocol.md, "Key continuity").
   */
  hello(previous = null) {
    if (!previous) return concat(new Uint8Array([VISITOR_HELLO, VERSION]), this.publicKey);
    if (previous.chatId !== this.chatId || !previous._continuity) {
      throw new HandshakeError("the previous session is not an established one of this chat");
    }
    return concat(new Uint8Array([CONTINUED_HELLO, VERSION]), this.publicKey,
                  continuityTag(previous._continuity, this.chatId, this.publicKey));
  }

  /** Handle a frame from the counsellor: {kind: "established"|"message", payload}. */
  receive(frame) {
    if (!(frame instanceof Uint8Array) || !frame.length) throw new TruncatedFrame("empty frame");
    if (frame[0] === COUNSELLOR_HELLO) return this._acceptHello(frame);
    if (frame[0] === MESSAGE) return { kind: "message", payload: this._open(frame) };
    throw new MalformedFrame("unknown frame type");
  }

  _acceptHello(frame) {
    if (this.established || !this._esk) throw new HandshakeError("second counsellor hello in one session");
    const head = 2 + KEY_BYTES + SIG_BYTES + 2;
    if (frame.length < head) throw new TruncatedFrame("counsellor hello is too short");
    if (frame[1] !== VERSION) throw new HandshakeError("unsupported protocol version");
    const counsellorPk = frame.slice(2, 2 + KEY_BYTES);
    const sig = frame.slice(2 + KEY_BYTES, head - 2);
    const n = (frame[head - 2] << 8) | frame[head - 1];
    if (frame.length !== head + n) throw new TruncatedFrame("counsellor hello has the wrong length");
    let cert;
    try { cert = JSON.parse(fromUtf8(frame.subarray(head))); } catch {
      throw new CertificateError("certificate is not JSON");
    }
    const certified = verifyCertificate(cert, this._org, this._clock(), this._revoked);
    const transcript = helloTranscript(this.chatId, this.publicKey, counsellorPk);
    if (!nacl().sign.detached.verify(transcript, sig, certified.identityKey)) {
      throw new HandshakeError("chat key is not signed by the certified counsellor");
    }
    this._derive(counsellorPk, this.publicKey, counsellorPk, certified.identityKey, true);
    this.counsellor = Object.freeze({ pseudonym: certified.pseudonym,
                                      identityKey: certified.identityKey });
    return { kind: "established",
             payload: { pseudonym: certified.pseudonym, safetyNumber: this.safetyNumber() } };
  }
}


internal.sessionClasses.set("visitor", VisitorSession);

/** The visitor's side of one chat (one handshake: a new session after transfer or reconnect). */
export function createVisitorSession(options) { return new VisitorSession(options); }

