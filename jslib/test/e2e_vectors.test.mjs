// jslib/e2e.js against the known answers that chatserver/crypto.py wrote (tests/vectors/e2e.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

globalThis.nacl = createRequire(import.meta.url)("tweetnacl");
const e2e = { ...(await import("../e2e.js")), ...(await import("../e2e-keys.js")),
  ...(await import("../e2e-counsellor.js")) };
const V = JSON.parse(readFileSync(new URL("../../tests/vectors/e2e.json", import.meta.url), "utf8"));
const { fromHex, hex } = e2e;

/** A stand-in for randomBytes that hands out the given chunks in order. */
function fixed(...chunks) {
  const queue = chunks.map(fromHex);
  return (n) => {
    const chunk = queue.shift();
    assert.equal(chunk.length, n);
    return chunk;
  };
}

function visitor(opts = {}) {
  return e2e.createVisitorSession({
    orgPublicKey: V.org.public_key, chatId: V.handshake.chat_id,
    revocationList: V.revocations.list, now: V.now, random: fixed(V.handshake.visitor_esk),
    ...opts,
  });
}

function counsellor() {
  return e2e.createCounsellorSession({
    identitySecretKey: fromHex(V.identity.seed), certificate: V.certificate,
    chatId: V.handshake.chat_id, random: fixed(V.handshake.counsellor_esk),
  });
}

function established() {
  const v = visitor(), c = counsellor();
  const { reply } = c.receive(v.hello());
  v.receive(reply);
  return { v, c };
}

function throwsCode(fn, code) {
  assert.throws(fn, (err) => err instanceof e2e.CryptoError && err.code === code,
                `expected a CryptoError with code ${code}`);
}

test("HMAC-SHA-512 matches", () => {
  for (const c of V.hmac_sha512) {
    assert.equal(hex(e2e.hmacSha512(fromHex(c.key), fromHex(c.msg))), c.mac);
  }
});

test("HKDF-SHA-512 matches", () => {
  const c = V.hkdf_sha512;
  assert.equal(hex(e2e.hkdfSha512(fromHex(c.salt), fromHex(c.ikm), fromHex(c.info))), c.okm);
});

test("ratchet steps match", () => {
  let ck = fromHex(V.ratchet.chain_key);
  for (const step of V.ratchet.steps) {
    const [mk, next] = e2e.ratchetStep(ck);
    assert.equal(hex(mk), step.message_key);
    assert.equal(hex(next), step.next_chain_key);
    ck = next;
  }
});

test("certificates are accepted or refused with the same code as in Python", () => {
  const revoked = V.revocations.revoked.map(e2e.b64decode);
  for (const c of V.certificate_cases) {
    const check = () => e2e.verifyCertificate(c.certificate, V.org.public_key, V.now, revoked);
    if (c.error === null) assert.equal(check().pseudonym, c.certificate.pseudonym, c.name);
    else throwsCode(check, c.error);
  }
});

test("revocation lists: valid, stale and forged", () => {
  const r = V.revocations;
  const keys = e2e.verifyRevocationList(r.list, V.org.public_key, V.now, r.max_age);
  assert.deepEqual(keys.map(e2e.b64encode), r.revoked);
  throwsCode(() => e2e.verifyRevocationList(r.list, V.org.public_key, r.stale_now, r.max_age),
             "stale");
  throwsCode(() => e2e.verifyRevocationList(r.forged, V.org.public_key, V.now, r.max_age),
             "certificate");
  throwsCode(() => visitor({ revocationList: r.forged }), "certificate");
});

test("handshake frames and safety number match", () => {
  const v = visitor(), c = counsellor();
  const hello = v.hello();
  assert.equal(hex(hello), V.handshake.visitor_hello);
  const answered = c.receive(hello);
  assert.equal(answered.kind, "established");
  assert.equal(hex(answered.reply), V.handshake.counsellor_hello);
  const got = v.receive(answered.reply);
  assert.deepEqual(got, { kind: "established",
                          payload: { pseudonym: V.handshake.pseudonym,
                                     safetyNumber: V.handshake.safety_number } });
  assert.equal(v.counsellor.pseudonym, V.handshake.pseudonym);
  assert.equal(v.safetyNumber(), c.safetyNumber());
  assert.match(v.safetyNumber(), /^(\d{5} ){11}\d{5}$/);
});

test("message frames match byte for byte and open to the same payloads", () => {
  const { v, c } = established();
  for (const m of V.messages) {
    const [src, dst] = m.from === "visitor" ? [v, c] : [c, v];
    const frame = src.encrypt(m.payload, { nonce: fromHex(m.nonce) });
    assert.equal(hex(frame), m.frame);
    assert.deepEqual(dst.receive(fromHex(m.frame)), { kind: "message", payload: m.payload });
  }
});

test("bad message frames are refused with the same code as in Python", () => {
  const v2c = V.messages.filter((m) => m.from === "visitor");
  for (const r of V.rejections) {
    const { c } = established();
    for (const m of v2c.slice(0, r.delivered)) c.receive(fromHex(m.frame));
    if (r.error === null) {
      assert.equal(c.receive(fromHex(r.frame)).kind, "message", r.name);
    } else {
      throwsCode(() => c.receive(fromHex(r.frame)), r.error);
      // Nothing was burnt: the genuine next frame still opens.
      const next = v2c[r.delivered];
      assert.deepEqual(c.receive(fromHex(next.frame)).payload, next.payload, r.name);
    }
  }
});

test("forged counsellor hellos are refused, and the genuine one still works", () => {
  for (const r of V.hello_rejections) {
    const v = visitor();
    v.hello();
    throwsCode(() => v.receive(fromHex(r.frame)), r.error);
    assert.equal(v.established, false, r.name);
    assert.equal(v.receive(fromHex(V.handshake.counsellor_hello)).kind, "established", r.name);
  }
});

test("a low-order visitor key is refused (all-zero shared secret)", () => {
  throwsCode(() => counsellor().receive(fromHex(V.handshake.weak_visitor_hello)), "weak_key");
});

test("sealed messages match and open", () => {
  const s = V.seal;
  const sealed = e2e.seal(fromHex(s.recipient_pk), fromHex(s.message), { random: fixed(s.esk) });
  assert.equal(hex(sealed), s.sealed);
  const opened = e2e.openSealed(fromHex(s.recipient_sk), fromHex(s.recipient_pk), fromHex(s.sealed));
  assert.equal(hex(opened), s.message);
  const bad = fromHex(s.sealed);
  bad[40] ^= 1;
  throwsCode(() => e2e.openSealed(fromHex(s.recipient_sk), fromHex(s.recipient_pk), bad), "tampered");
});

function continuing() {
  const { v, c } = established();
  const v2 = visitor({ random: fixed(V.continuity.visitor_esk) });
  const c2 = e2e.createCounsellorSession({
    identitySecretKey: fromHex(V.identity.seed), certificate: V.certificate,
    chatId: V.handshake.chat_id, previous: c, random: fixed(V.continuity.counsellor_esk),
  });
  return { v, c, v2, c2 };
}

test("a continued hello matches and is vouched for by the previous session", () => {
  const { v, v2, c2 } = continuing();
  const hello = v2.hello(v);
  assert.equal(hex(hello), V.continuity.continued_hello);
  const got = c2.receive(hello);
  assert.equal(got.payload.continued, true);
  assert.equal(hex(got.reply), V.continuity.counsellor_hello);
  v2.receive(got.reply);
  assert.equal(v2.safetyNumber(), V.continuity.safety_number);
  assert.equal(c2.safetyNumber(), V.continuity.safety_number);
});

test("a hello the previous session does not vouch for is not continued", () => {
  for (const r of V.continuity.not_continued) {
    const { c2 } = continuing();
    assert.equal(c2.receive(fromHex(r.frame)).payload.continued, false, r.name);
  }
  // A console that had no session in this chat cannot vouch for anything.
  assert.equal(counsellor().receive(fromHex(V.continuity.continued_hello)).payload.continued, false);
  throwsCode(() => continuing().c2.receive(fromHex(V.continuity.truncated)), "truncated");
});

test("the continuity key survives a reload of the session state", () => {
  const { v, c } = established();
  const v2 = visitor({ random: fixed(V.continuity.visitor_esk) });
  const c2 = e2e.createCounsellorSession({
    identitySecretKey: fromHex(V.identity.seed), certificate: V.certificate,
    chatId: V.handshake.chat_id, previous: e2e.importState(c.exportState()),
    random: fixed(V.continuity.counsellor_esk),
  });
  const hello = v2.hello(e2e.importState(v.exportState()));
  assert.equal(hex(hello), V.continuity.continued_hello);
  assert.equal(c2.receive(hello).payload.continued, true);
});

test("a drop code is made, typed back and derived as in Python", () => {
  const D = V.drops;
  assert.equal(e2e.generateDropCode({ random: fixed(D.random) }), D.code);
  for (const typed of [D.code, ...D.typed]) assert.equal(e2e.dropCode(typed), D.canonical, typed);
  for (const text of D.not_codes) assert.equal(e2e.dropCode(text), null, text);
  const keys = e2e.dropKeys(D.typed[0]);
  assert.equal(e2e.b64encode(keys.lookup), D.lookup);
  assert.equal(hex(keys.replySk), D.reply_sk);
  assert.equal(e2e.b64encode(keys.replyPk), D.reply_pk);
});

test("a reading code is made, typed back among the words and derived as in Python", () => {
  const R = V.reader;
  assert.equal(e2e.generateReaderCode({ random: fixed(...R.random) }), R.code);
  for (const typed of R.typed) assert.deepEqual(e2e.splitCodename(typed), { words: R.words, code: R.canonical }, typed);
  for (const text of R.not_codes) assert.equal(e2e.splitCodename(text).code, null, text);
  // What goes to the server: the words alone; a drop code, even mistyped, never.
  for (const typed of R.typed) assert.equal(e2e.codenameWords(typed), R.words, typed);
  assert.equal(e2e.codenameWords(R.words.toUpperCase()), R.words);
  const D = V.drops;
  for (const typed of [D.code, ...D.typed, D.code.slice(0, -1), D.code.replace("-", " ")]) {
    assert.equal(e2e.codenameWords(typed), null, typed);
  }
  const keys = e2e.readerKeys(R.canonical);
  assert.equal(hex(keys.sk), R.sk);
  assert.equal(e2e.b64encode(keys.pk), R.pk);
});

test("a signed drop answer matches and opens with the reply key", () => {
  const D = V.drops;
  const keys = e2e.dropKeys(D.code);
  const sealed = e2e.seal(keys.replyPk, fromHex(D.answer_plaintext), { random: fixed(D.answer_esk) });
  const identity = globalThis.nacl.sign.keyPair.fromSeed(fromHex(V.identity.seed));
  assert.equal(e2e.b64encode(sealed), D.answer.sealed);
  // What the console signs (console.js, signDropAnswer).
  const sig = globalThis.nacl.sign.detached(e2e.dropAnswerBytes(keys.lookup, sealed), identity.secretKey);
  assert.equal(e2e.b64encode(sig), D.answer.sig);
  const opened = e2e.openSealed(keys.replySk, keys.replyPk, e2e.b64decode(D.answer.sealed));
  assert.equal(e2e.decodePayload(opened).body, "Wir sind für Sie da.");
});

test("drop answers are accepted or refused with the same code as in Python", () => {
  const revoked = e2e.verifyRevocationList(V.revocations.list, V.org.public_key, V.now);
  for (const c of V.drops.answer_cases) {
    const check = () => e2e.verifyDropAnswer(c.answer, e2e.b64decode(c.lookup), V.org.public_key, V.now, revoked);
    if (c.error === null) assert.equal(check().pseudonym, "Anna", c.name);
    else throwsCode(check, c.error);
  }
});

test("records keys are sealed to only as the vectors certify, with the same codes", () => {
  const revoked = V.records_key.revoked.map(e2e.b64decode);
  for (const c of V.records_key.cases) {
    const check = () => e2e.verifyRecordsKey(c.records_pk, c.certificate, V.org.public_key, V.now, revoked);
    if (c.error === null) assert.equal(e2e.b64encode(check()), c.records_pk, c.name);
    else throwsCode(check, c.error);
  }
});

test("box keys lead to a certified counsellor only as in the vectors", () => {
  const revoked = V.revocations.revoked.map(e2e.b64decode);
  for (const c of V.box_key.cases) {
    const check = () => e2e.verifyBoxKey(c.certificate, c.box_pk, c.signature, V.org.public_key, V.now, revoked);
    if (c.error === null) assert.equal(check().pseudonym, c.certificate.pseudonym, c.name);
    else throwsCode(check, c.error);
  }
});

test("the box key signature and the fingerprint match", () => {
  const b = V.box_key;
  const sig = e2e.signBoxKey(fromHex(V.identity.seed), e2e.b64decode(b.box_pk));
  assert.equal(e2e.b64encode(sig), b.signature);
  assert.equal(e2e.fingerprint(e2e.b64decode(V.identity.public_key)), b.fingerprint);
});

test("records, notes and drops are padded as in Python", () => {
  const P = V.padding;
  assert.deepEqual([...e2e.PAD_BUCKETS], P.buckets);
  for (const c of P.cases) {
    const padded = e2e.pad(fromHex(c.data));
    assert.equal(hex(padded), c.padded);
    assert.equal(hex(e2e.unpad(padded)), c.data);
  }
  for (const s of P.sizes) {
    if (s.bucket === null) throwsCode(() => e2e.pad(new Uint8Array(s.length)), "payload");
    else assert.equal(e2e.pad(new Uint8Array(s.length)).length, s.bucket, String(s.length));
  }
});

test("an unpadded plaintext stored before padding opens unchanged", () => {
  for (const data of V.padding.legacy) assert.equal(hex(e2e.unpad(fromHex(data))), data);
});

test("malformed padding is refused with the same code as in Python", () => {
  for (const c of V.padding.bad) throwsCode(() => e2e.unpad(fromHex(c.padded)), c.error);
});

test("a case record is boxed padded as in Python and opens to its plaintext", () => {
  const r = V.padding.record, key = fromHex(r.key), nonce = fromHex(r.nonce);
  const body = e2e.concat(nonce, globalThis.nacl.secretbox(e2e.pad(fromHex(r.plaintext)), nonce, key));
  assert.equal(e2e.b64encode(body), r.body);
  const opened = globalThis.nacl.secretbox.open(body.subarray(24), body.subarray(0, 24), key);
  assert.equal(hex(e2e.unpad(opened)), r.plaintext);
});
