// Behaviour of jslib/e2e.js with real randomness: sessions, window, erasure, input checks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const tweetnacl = createRequire(import.meta.url)("tweetnacl");
globalThis.nacl = tweetnacl;
const e2e = { ...(await import("../e2e.js")), ...(await import("../e2e-keys.js")),
  ...(await import("../e2e-counsellor.js")) };

const NOW = Math.floor(Date.now() / 1000);

function pki() {
  const org = tweetnacl.sign.keyPair();
  const sign = (bytes) => e2e.b64encode(tweetnacl.sign.detached(bytes, org.secretKey));
  const revocationList = { v: 1, issued: NOW, revoked: [], sig: sign(e2e.revocationBytes(NOW, [])) };
  function identity(pseudonym) {
    const keys = e2e.signKeyPair();
    const serial = tweetnacl.randomBytes(16);
    const certificate = {
      v: 1, key: e2e.b64encode(keys.publicKey), pseudonym, issued: NOW, expires: NOW + 86400,
      serial: e2e.hex(serial),
      sig: sign(e2e.certificateBytes(keys.publicKey, pseudonym, NOW, NOW + 86400, serial)),
    };
    return { secretKey: keys.secretKey, certificate };
  }
  return { orgPublicKey: e2e.b64encode(org.publicKey), revocationList, identity };
}

function pair(chatId = "chat-js") {
  const p = pki();
  const anna = p.identity("Anna");
  const v = e2e.createVisitorSession({ orgPublicKey: p.orgPublicKey, chatId,
                                       revocationList: p.revocationList });
  const c = e2e.createCounsellorSession({ identitySecretKey: anna.secretKey,
                                          certificate: anna.certificate, chatId });
  const answered = c.receive(v.hello());
  const got = v.receive(answered.reply);
  return { v, c, got, p };
}

function code(fn) {
  try { fn(); } catch (err) { assert.ok(err instanceof e2e.CryptoError, String(err)); return err.code; }
  assert.fail("expected a CryptoError");
}

test("a chat in both directions, one safety number", () => {
  const { v, c, got } = pair();
  assert.equal(got.kind, "established");
  assert.equal(got.payload.pseudonym, "Anna");
  assert.equal(v.safetyNumber(), c.safetyNumber());
  for (let i = 0; i < 20; i++) {
    const m = { t: "text", body: `Nachricht ${i} ` + "ä".repeat(i * 50) };
    assert.deepEqual(c.receive(v.encrypt(m)), { kind: "message", payload: m });
    assert.deepEqual(v.receive(c.encrypt(m)).payload, m);
  }
});

test("frames come in bucket sizes only", () => {
  const { v } = pair();
  const sizes = new Set();
  for (const n of [0, 10, 172, 173, 900, 1000, 4000, 10000, e2e.MAX_PAYLOAD - 22]) {
    sizes.add(v.encrypt({ t: "text", body: "x".repeat(n) }).length);
  }
  assert.deepEqual([...sizes].sort((a, b) => a - b), [...e2e.BUCKETS]);
  assert.equal(code(() => v.encrypt({ t: "text", body: "x".repeat(e2e.MAX_PAYLOAD) })), "payload");
  assert.equal(code(() => v.encrypt({ body: "no kind" })), "payload");
  assert.equal(code(() => v.encrypt([1, 2])), "payload");
});

test("late frames inside the window open once; replays and far jumps are refused", () => {
  const { v, c } = pair();
  const frames = Array.from({ length: 40 }, (_, i) => v.encrypt({ t: "text", body: String(i + 1) }));
  assert.equal(code(() => c.receive(frames[33])), "reordered"); // counter 34 > 0 + 32
  assert.equal(c.receive(frames[4]).payload.body, "5");
  assert.equal(c.receive(frames[1]).payload.body, "2");
  assert.equal(code(() => c.receive(frames[1])), "replayed");
  assert.equal(code(() => c.receive(frames[4])), "replayed");
  assert.equal(c.receive(frames[36]).payload.body, "37");
  assert.equal(code(() => c.receive(frames[0])), "reordered"); // fell out of the window
  assert.equal(c.receive(frames[5]).payload.body, "6");
});

test("used chain and message keys are zeroed", () => {
  const { v, c } = pair();
  const sendKey = v._send.key, recvKey = c._recv.key;
  c.receive(v.encrypt({ t: "text", body: "one" }));
  assert.ok(sendKey.every((b) => b === 0));
  assert.ok(recvKey.every((b) => b === 0));
  assert.equal(v._esk, null);
  assert.equal(c._esk, null);
});

test("destroy erases the session", () => {
  const { v, c } = pair();
  const frame = v.encrypt({ t: "text", body: "before" });
  const recvKey = c._recv.key;
  c.destroy();
  assert.ok(recvKey.every((b) => b === 0));
  assert.equal(code(() => c.receive(frame)), "handshake");
  assert.equal(code(() => c.encrypt({ t: "text", body: "after" })), "handshake");
});

test("a second hello in one session is refused", () => {
  const { v, c, p } = pair();
  const other = e2e.createVisitorSession({ orgPublicKey: p.orgPublicKey, chatId: "chat-js",
                                           revocationList: p.revocationList });
  assert.equal(code(() => c.receive(other.hello())), "handshake");
  const counsellor2 = p.identity("Bert");
  const c2 = e2e.createCounsellorSession({ identitySecretKey: counsellor2.secretKey,
                                           certificate: counsellor2.certificate, chatId: "chat-js" });
  assert.equal(code(() => v.receive(c2.receive(other.hello()).reply)), "handshake");
});

test("a missing or stale revocation list stops the visitor", () => {
  const p = pki();
  const base = { orgPublicKey: p.orgPublicKey, chatId: "c" };
  assert.equal(code(() => e2e.createVisitorSession({ ...base })), "certificate");
  assert.equal(code(() => e2e.createVisitorSession({ ...base, revocationList: p.revocationList,
                                                     now: NOW + 31 * 86400 })), "stale");
  assert.equal(code(() => e2e.createVisitorSession({ ...base, revocationList: p.revocationList,
                                                     now: NOW + 2 * 86400, maxAge: 86400 })), "stale");
});

test("base64 decoding is strict", () => {
  assert.deepEqual(e2e.b64decode("AAEC"), new Uint8Array([0, 1, 2]));
  for (const bad of ["AAE", "AA-C", "AA C", "A===", 7]) {
    assert.equal(code(() => e2e.b64decode(bad)), "malformed");
  }
});

test("without tweetnacl loaded the module says so", () => {
  delete globalThis.nacl;
  try {
    assert.equal(code(() => e2e.boxKeyPair()), "crypto");
  } finally {
    globalThis.nacl = tweetnacl;
  }
});
