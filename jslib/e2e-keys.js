// The half of the end-to-end protocol a visitor's chat does not need (docs/protocol.md): the
// counsellor's side of the handshake (CounsellorSession), sealing to a public key
// (case records, transfer notes, message drops), the records key and counsellors' box keys
// bound to the organisation, fingerprints, anonymous message drops, and restoring a session
// after a reload (importState). The chat itself is in e2e.js, on which this builds. Split so
// that the widget loads this half only when a visitor leaves or checks a message or opted in
// to "continue after reload" (docs/benchmarks.md, "Widget weight"); the console loads both.
// The Python twin of both is chatserver/crypto.py; both pass tests/vectors/e2e.json.
import {
  b64decode, CertificateError, concat, CryptoError, ExpiredCertificate, ForgedAnswer, internal,
  MalformedFrame, PayloadError, RevokedCertificate, safetyNumber, TamperedFrame,
  TruncatedFrame, utf8, VERSION, verifyCertificate,
} from "./e2e.js";

const {
  nacl, LABEL, u64, keyField, wholeSeconds, serialField, sigField, bytesOf, equal,
  checkPseudonym, KEY_BYTES, CLOCK_SKEW_S, NONCE, TAG, WINDOW,
} = internal;

// -- the records key and counsellors' box keys, bound to the organisation -------------------
// Each signature has its own label ("/records-key", "/box-key" beside "/cert" and
// "/revocations"), so nothing signed for one purpose is ever accepted for another.

export function recordsCertificateBytes(recordsPk, issued, expires, serial) {
  return concat(LABEL, utf8("/records-key\0"), recordsPk, u64(issued), u64(expires), serial);
}

/**
 * The records public key to seal to: recordsPk as served, if cert certifies exactly it under
 * the pinned org key, in its validity period and not revoked.
 */
export function verifyRecordsKey(recordsPk, cert, orgPublicKey, now, revoked = []) {
  if (!cert || typeof cert !== "object" || cert.v !== VERSION) {
    throw new CertificateError("the records key has no certificate of this version");
  }
  const certified = keyField(cert.records_pk, "records key");
  const issued = wholeSeconds(cert.issued, "issued");
  const expires = wholeSeconds(cert.expires, "expires");
  const serial = serialField(cert.serial);
  const sig = sigField(cert.sig);
  const org = bytesOf(orgPublicKey, "organisation key", KEY_BYTES);
  if (!nacl().sign.detached.verify(recordsCertificateBytes(certified, issued, expires, serial),
                                   sig, org)) {
    throw new CertificateError("records key certificate is not signed by the organisation");
  }
  if (now + CLOCK_SKEW_S < issued || now > expires) {
    throw new ExpiredCertificate("records key certificate is expired or not yet valid");
  }
  if (revoked.some((k) => equal(k, certified))) throw new RevokedCertificate("records key has been revoked");
  if (!equal(keyField(recordsPk, "served records key"), certified)) {
    throw new CertificateError("the served records key is not the certified one");
  }
  return certified;
}

// -- sealing to a public key (case records, message drops) ----------------------------------

function sealNonce(epk, recipientPk) {
  return nacl().hash(concat(epk, recipientPk)).slice(0, NONCE);
}

/** Anonymous encryption to an X25519 key: ephemeral key + box, nonce from both keys. */
export function seal(recipientPk, message, { random } = {}) {
  const pk = bytesOf(recipientPk, "recipient key", KEY_BYTES);
  const esk = (random || nacl().randomBytes)(KEY_BYTES);
  const epk = nacl().scalarMult.base(esk);
  const boxed = nacl().box(message, sealNonce(epk, pk), pk, esk);
  esk.fill(0);
  return concat(epk, boxed);
}

/** Open what seal() made for the holder of recipientSk. */
export function openSealed(recipientSk, recipientPk, sealed) {
  const sk = bytesOf(recipientSk, "recipient key", KEY_BYTES);
  const pk = bytesOf(recipientPk, "recipient key", KEY_BYTES);
  if (!(sealed instanceof Uint8Array) || sealed.length < KEY_BYTES + TAG) {
    throw new TruncatedFrame("sealed message is too short");
  }
  const epk = sealed.subarray(0, KEY_BYTES);
  const out = nacl().box.open(sealed.subarray(KEY_BYTES), sealNonce(epk, pk), epk, sk);
  if (!out) throw new TamperedFrame("sealed message does not open");
  return out;
}

// -- padding of the long-lived ciphertexts (records, notes, drops, answers) ----------------
// What is sealed or boxed for keeping is padded first, so that its stored length tells only a
// bucket (docs/protocol.md, "Padding of records, notes and drops"). Quadrupling from 1 KiB like
// the chat frames; the last bucket is the largest case record the server accepts.

export const PAD_BUCKETS = Object.freeze([1024, 4096, 16384, 65536, 262144, 524288]);
// 0xff never begins UTF-8, and everything stored before padding (JSON, a note's text) is
// UTF-8: a plaintext without this mark is an old, unpadded one, returned as it is.
const PAD_MARK = [0xff, 0x01];
const PAD_HEADER = PAD_MARK.length + 4;

/** The padded size of a plaintext of this many bytes. */
export function padBucketFor(length) {
  for (const bucket of PAD_BUCKETS) if (length + PAD_HEADER <= bucket) return bucket;
  throw new PayloadError("too long to keep");
}

/** data marked, length-prefixed and zero-filled to the smallest bucket that fits. */
export function pad(data) {
  const out = new Uint8Array(padBucketFor(data.length));
  out.set(PAD_MARK);
  new DataView(out.buffer).setUint32(PAD_MARK.length, data.length);
  out.set(data, PAD_HEADER);
  return out;
}

/** What pad() padded; an old plaintext (without the mark) unchanged. */
export function unpad(data) {
  if (data.length === 0 || data[0] !== PAD_MARK[0]) return data;
  if (data[1] !== PAD_MARK[1]) throw new MalformedFrame("unknown padding version");
  if (!PAD_BUCKETS.includes(data.length)) throw new TruncatedFrame("padded plaintext is not a padding bucket");
  const length = new DataView(data.buffer, data.byteOffset, data.length).getUint32(PAD_MARK.length);
  const end = PAD_HEADER + length;
  if (end > data.length || data.subarray(end).some((b) => b !== 0)) {
    throw new MalformedFrame("padding is malformed");
  }
  return data.subarray(PAD_HEADER, end);
}

// -- anonymous message drops: the visitor's code, answers signed by a counsellor -------------

// Crockford's base32: no i, l, o or u, so that nothing reads as another symbol. 20 symbols.
const DROP_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/** A fresh drop code: 100 bits in five groups of four, at least one symbol a digit. */
export function generateDropCode({ random } = {}) {
  for (;;) {
    const code = Array.from((random || nacl().randomBytes)(20), (b) => DROP_ALPHABET[b & 31]).join("");
    if (/\d/.test(code)) return code.match(/.{4}/g).join("-");
  }
}

/** The drop code a visitor typed, canonical (case, spaces, hyphens, o/i/l for 0/1), or null. */
export function dropCode(text) {
  const code = String(text).toLowerCase().replace(/[\s-]/g, "").replace(/o/g, "0").replace(/[il]/g, "1");
  return /^[0-9a-hjkmnp-tv-z]{20}$/.test(code) ? code : null;
}

/** The lookup value and reply key pair of a drop code (docs/protocol.md, "Message drop"). */
export function dropKeys(text) {
  const code = dropCode(text);
  if (!code) throw new CryptoError("not a drop code");
  const derive = (what) => nacl().hash(concat(LABEL, utf8("/drop-" + what + "\0" + code))).slice(0, KEY_BYTES);
  const replySk = derive("reply");
  return { lookup: derive("lookup"), replySk, replyPk: nacl().scalarMult.base(replySk) };
}

// -- the visitor's own copy of their case record (docs/protocol.md, "Continuity") ------------

/** A fresh reading code, made in the widget and shown after the codename's words: four groups
 * of four symbols, each with a digit 2-9, so no group ever reads as a word of a codename. */
export function generateReaderCode({ random } = {}) {
  const groups = [];
  while (groups.length < 4) {
    const g = Array.from((random || nacl().randomBytes)(4), (b) => DROP_ALPHABET[b & 31]).join("");
    if (/[2-9]/.test(g)) groups.push(g);
  }
  return groups.join("-");
}

/** What a visitor typed, split: the codename's words (for the server) and the reading code
 * (the groups with a digit; canonical, or null), which never leaves the browser. */
export function splitCodename(text) {
  const parts = String(text).toLowerCase().split(/\s+/).filter(Boolean);
  const code = parts.filter((p) => /\d/.test(p)).join("").replace(/-/g, "").replace(/o/g, "0").replace(/[il]/g, "1");
  return { words: parts.filter((p) => !/\d/.test(p)).join(" "),
           code: /^[0-9a-hjkmnp-tv-z]{16}$/.test(code) ? code : null };
}

/** The words to send for what a visitor typed: a codename, with or without its reading code;
 * null for anything that may be a drop code, which never leaves the browser (not even mistyped:
 * a drop code's five groups hold at most one group without a digit, a codename seven words). */
export function codenameWords(text) {
  const { words, code } = splitCodename(text);
  return dropCode(text) || (/\d/.test(text) && !(code && words.includes(" "))) ? null : words;
}

/** The key pair a reading code gives: the console seals the visitor's copy to its public half. */
export function readerKeys(code) {
  const sk = nacl().hash(concat(LABEL, utf8("/record-reader\0" + code))).slice(0, KEY_BYTES);
  return { sk, pk: nacl().scalarMult.base(sk) };
}

/**
 * What a counsellor's identity key signs for an answer: label, the drop's lookup value and the
 * sealed answer. The console signs it (console.js); the widget only verifies, and is lighter
 * for not carrying the signing.
 */
export function dropAnswerBytes(lookup, sealed) {
  return concat(LABEL, utf8("/drop-answer\0"), lookup, sealed);
}

/** The counsellor who answered the drop of `lookup`, if a certified, unrevoked key signed it. */
export function verifyDropAnswer(answer, lookup, orgPublicKey, now, revoked = []) {
  let sealed, sig;
  try { sealed = b64decode(answer.sealed); sig = sigField(answer.sig); } catch { throw new ForgedAnswer("unsigned"); }
  const certified = verifyCertificate(answer.certificate, orgPublicKey, now, revoked);
  if (nacl().sign.detached.verify(dropAnswerBytes(lookup, sealed), sig, certified.identityKey)) return certified;
  throw new ForgedAnswer("not signed for this drop");
}

// -- restoring a session after a reload ------------------------------------------------------

function stateKey(value, what) {
  let key;
  try { key = b64decode(value); } catch { throw new CryptoError(`state: ${what} is not base64`); }
  if (key.length !== KEY_BYTES) throw new CryptoError(`state: ${what} has the wrong length`);
  return key;
}

function stateCounter(value, what) {
  if (!Number.isSafeInteger(value) || value < 1) throw new CryptoError(`state: ${what} is out of range`);
  return value;
}

/**
 * An established session continued from exportState(), after checking that the state hangs
 * together: its shape, key lengths, counters, skipped keys inside the window, and a safety
 * number that matches its inputs. Refuses (CryptoError) anything else. It can encrypt and
 * decrypt but never answer a hello: a new handshake needs a new session.
 */
export function importState(state) {
  if (!state || typeof state !== "object" || state.v !== VERSION) {
    throw new CryptoError("state: not a session state of this version");
  }
  // The console's side registers itself (e2e-counsellor.js): a visitor's page restores none.
  const cls = internal.sessionClasses.get(state.role) || null;
  if (!cls) throw new CryptoError("state: unknown role");
  if (typeof state.chatId !== "string" || !state.chatId) throw new CryptoError("state: chat id is missing");
  const send = { key: stateKey(state.send && state.send.key, "send key"),
                 counter: stateCounter(state.send && state.send.counter, "send counter") };
  const recv = { key: stateKey(state.recv && state.recv.key, "receive key"),
                 counter: stateCounter(state.recv && state.recv.counter, "receive counter") };
  const highest = state.highest;
  if (!Number.isSafeInteger(highest) || highest !== recv.counter - 1) {
    throw new CryptoError("state: receive counters disagree");
  }
  if (!Array.isArray(state.skipped) || state.skipped.length > WINDOW) {
    throw new CryptoError("state: skipped keys are malformed");
  }
  const skipped = new Map();
  for (const item of state.skipped) {
    if (!Array.isArray(item) || item.length !== 2 || !Number.isSafeInteger(item[0]) ||
        item[0] < 1 || item[0] >= highest || item[0] <= highest - WINDOW || skipped.has(item[0])) {
      throw new CryptoError("state: a skipped key is out of range");
    }
    skipped.set(item[0], stateKey(item[1], "skipped key"));
  }
  const visitorPk = stateKey(state.visitorPk, "visitor key");
  const counsellorPk = stateKey(state.counsellorPk, "counsellor key");
  const identityPk = stateKey(state.identityPk, "identity key");
  // States written before key continuity have none: such a session cannot vouch for a new one.
  const continuity = state.continuity === undefined ? null : stateKey(state.continuity, "continuity key");
  if (state.safetyNumber !== safetyNumber(state.chatId, visitorPk, counsellorPk, identityPk)) {
    throw new CryptoError("state: safety number does not match its keys");
  }
  const session = Object.create(cls.prototype);
  Object.assign(session, {
    chatId: state.chatId, _random: (n) => nacl().randomBytes(n), _esk: null,
    publicKey: state.role === "visitor" ? visitorPk : counsellorPk,
    _send: send, _recv: recv, _highest: highest, _skipped: skipped,
    _safety: state.safetyNumber, _material: { visitorPk, counsellorPk, identityPk },
    _continuity: continuity,
  });
  if (state.role === "visitor") {
    session.counsellor = Object.freeze({ pseudonym: checkPseudonym(state.pseudonym),
                                         identityKey: identityPk });
  } else Object.assign(session, { _identity: null, _previous: null });
  return session;
}
