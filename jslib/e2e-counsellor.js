// The console's side of the end-to-end protocol (docs/protocol.md): the counsellor's side of
// the handshake, key pairs, box keys signed by the identity key, fingerprints. Built on e2e.js;
// only the console loads it (the widget never does: docs/benchmarks.md, "Widget weight").
// The Python twin is chatserver/crypto.py; both pass tests/vectors/e2e.json.
import {
  b64encode, CertificateError, concat, CONTINUED_HELLO, continuityTag, COUNSELLOR_HELLO,
  CryptoError, HandshakeError, hex, internal, MalformedFrame, MESSAGE, TruncatedFrame, utf8,
  VERSION, verifyCertificate, VISITOR_HELLO,
} from "./e2e.js";

const {
  nacl, LABEL, lp, keyField, sigField, bytesOf, equal, KEY_BYTES, CONTINUITY_TAG_BYTES,
  canonicalJson, helloTranscript, Session,
} = internal;

// -- the counsellor's side of the chat (the console) ----------------------------------------

class CounsellorSession extends Session {
  get role() { return "counsellor"; }

  constructor({ identitySecretKey, certificate, chatId, previous = null, random }) {
    super(chatId, random);
    if (previous && previous.chatId !== chatId) throw new HandshakeError("the previous session belongs to another chat");
    // The key a continued hello must be authenticated with, if this chat had a session.
    this._previous = previous && previous._continuity ? previous._continuity.slice() : null;
    const secret = bytesOf(identitySecretKey, "identity key");
    if (secret.length === KEY_BYTES) this._identity = nacl().sign.keyPair.fromSeed(secret);
    else if (secret.length === 64) this._identity = nacl().sign.keyPair.fromSecretKey(secret);
    else throw new CryptoError("identity key has the wrong length");
    if (!certificate || certificate.key !== b64encode(this._identity.publicKey)) {
      throw new CertificateError("certificate is for another identity key");
    }
    this._cert = utf8(canonicalJson(certificate));
  }

  /** Handle a frame from the visitor; a visitor-hello yields {kind: "established", reply}. */
  receive(frame) {
    if (!(frame instanceof Uint8Array) || !frame.length) throw new TruncatedFrame("empty frame");
    if (frame[0] === VISITOR_HELLO || frame[0] === CONTINUED_HELLO) return this._answerHello(frame);
    if (frame[0] === MESSAGE) return { kind: "message", payload: this._open(frame) };
    throw new MalformedFrame("unknown frame type");
  }

  _answerHello(frame) {
    if (this.established || !this._esk) throw new HandshakeError("second visitor hello in one session");
    if (frame.length < 2) throw new TruncatedFrame("visitor hello is too short");
    if (frame[1] !== VERSION) throw new HandshakeError("unsupported protocol version");
    const continued = frame[0] === CONTINUED_HELLO;
    if (frame.length !== 2 + KEY_BYTES + (continued ? CONTINUITY_TAG_BYTES : 0)) {
      throw new TruncatedFrame("visitor hello has the wrong length");
    }
    const visitorPk = frame.slice(2, 2 + KEY_BYTES);
    // Continued: the previous session of this chat vouches for the new chat key. A tag this
    // console cannot check (no previous session) counts as not continued.
    const verified = continued && this._previous !== null &&
      equal(frame.subarray(2 + KEY_BYTES), continuityTag(this._previous, this.chatId, visitorPk));
    const sig = nacl().sign.detached(helloTranscript(this.chatId, visitorPk, this.publicKey),
                                     this._identity.secretKey);
    const reply = concat(new Uint8Array([COUNSELLOR_HELLO, VERSION]), this.publicKey, sig,
                         lp(this._cert));
    this._derive(visitorPk, visitorPk, this.publicKey, this._identity.publicKey, false);
    return { kind: "established", payload: { safetyNumber: this.safetyNumber(), continued: verified }, reply };
  }

  destroy() {
    super.destroy();
    if (this._identity) this._identity.secretKey.fill(0);
    if (this._previous) this._previous.fill(0);
    this._identity = this._previous = null;
  }
}

/** The counsellor's side of one chat (one handshake). */
export function createCounsellorSession(options) { return new CounsellorSession(options); }

// -- keys -----------------------------------------------------------------------------------

/** A fresh Ed25519 identity key pair (tweetnacl's 64-byte secretKey). */
export function signKeyPair() { return nacl().sign.keyPair(); }

/** A fresh X25519 key pair for seal/openSealed. */
export function boxKeyPair() { return nacl().box.keyPair(); }

// -- counsellors' box keys, bound to their certified identity -------------------------------

export function boxKeyBytes(identityPk, boxPk) {
  return concat(LABEL, utf8("/box-key\0"), identityPk, boxPk);
}

/** The identity key's signature over the counsellor's own box key (seed or 64-byte secret). */
export function signBoxKey(identitySecretKey, boxPk) {
  const secret = bytesOf(identitySecretKey, "identity key");
  let pair;
  if (secret.length === KEY_BYTES) pair = nacl().sign.keyPair.fromSeed(secret);
  else if (secret.length === 64) pair = nacl().sign.keyPair.fromSecretKey(secret);
  else throw new CryptoError("identity key has the wrong length");
  const box = bytesOf(boxPk, "box key", KEY_BYTES);
  return nacl().sign.detached(boxKeyBytes(pair.publicKey, box), pair.secretKey);
}

/**
 * The certified counsellor a box key belongs to: cert leads to the org key and its identity
 * key signed boxPk. Only then may the records key be sealed to it.
 */
export function verifyBoxKey(cert, boxPk, sig, orgPublicKey, now, revoked = []) {
  const certified = verifyCertificate(cert, orgPublicKey, now, revoked);
  const box = keyField(boxPk, "box key");
  if (!nacl().sign.detached.verify(boxKeyBytes(certified.identityKey, box), sigField(sig),
                                   certified.identityKey)) {
    throw new CertificateError("box key is not signed by the certified counsellor");
  }
  return certified;
}

/** Eight groups of four hex digits that people compare to recognise a key. */
export function fingerprint(key) {
  const digest = nacl().hash(concat(LABEL, utf8("/fingerprint\0"), bytesOf(key, "key", KEY_BYTES)));
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(hex(digest.subarray(i, i + 2)).toUpperCase());
  return groups.join(" ");
}

internal.sessionClasses.set("counsellor", CounsellorSession);
