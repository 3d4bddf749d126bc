// exportState()/importState() of jslib/e2e.js: a restored session goes on where the old stopped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const tweetnacl = createRequire(import.meta.url)("tweetnacl");
globalThis.nacl = tweetnacl;
const e2e = { ...(await import("../e2e.js")), ...(await import("../e2e-keys.js")),
  ...(await import("../e2e-counsellor.js")) };

const NOW = Math.floor(Date.now() / 1000);

function pair(chatId = "chat-state") {
  const org = tweetnacl.sign.keyPair();
  const sign = (bytes) => e2e.b64encode(tweetnacl.sign.detached(bytes, org.secretKey));
  const revocationList = { v: 1, issued: NOW, revoked: [], sig: sign(e2e.revocationBytes(NOW, [])) };
  const keys = e2e.signKeyPair();
  const serial = tweetnacl.randomBytes(16);
  const certificate = {
    v: 1, key: e2e.b64encode(keys.publicKey), pseudonym: "Anna", issued: NOW, expires: NOW + 86400,
    serial: e2e.hex(serial),
    sig: sign(e2e.certificateBytes(keys.publicKey, "Anna", NOW, NOW + 86400, serial)),
  };
  const v = e2e.createVisitorSession({ orgPublicKey: e2e.b64encode(org.publicKey), chatId, revocationList });
  const c = e2e.createCounsellorSession({ identitySecretKey: keys.secretKey, certificate, chatId });
  v.receive(c.receive(v.hello()).reply);
  return { v, c };
}

const text = (body) => ({ t: "text", body });
// Through JSON, as it is stored.
const roundTrip = (state) => JSON.parse(JSON.stringify(state));

test("a restored counsellor session decrypts the next frame and its reply is accepted", () => {
  const { v, c } = pair();
  assert.equal(c.receive(v.encrypt(text("eins"))).payload.body, "eins");
  v.receive(c.encrypt(text("zwei")));
  const restored = e2e.importState(roundTrip(c.exportState()));
  c.destroy();
  assert.equal(restored.established, true);
  assert.equal(restored.safetyNumber(), v.safetyNumber());
  assert.deepEqual(restored.receive(v.encrypt(text("drei"))).payload, text("drei"));
  assert.deepEqual(v.receive(restored.encrypt(text("vier"))).payload, text("vier"));
});

test("a restored visitor session goes on too, and keeps the counsellor's pseudonym", () => {
  const { v, c } = pair();
  const restored = e2e.importState(roundTrip(v.exportState()));
  assert.equal(restored.counsellor.pseudonym, "Anna");
  assert.deepEqual(c.receive(restored.encrypt(text("hallo"))).payload, text("hallo"));
  assert.deepEqual(restored.receive(c.encrypt(text("ja"))).payload, text("ja"));
});

test("skipped keys survive: a frame that overtook another still opens after a restore", () => {
  const { v, c } = pair();
  const first = v.encrypt(text("a"));
  const second = v.encrypt(text("b"));
  c.receive(second);
  const restored = e2e.importState(roundTrip(c.exportState()));
  assert.deepEqual(restored.receive(first).payload, text("a"));
  assert.throws(() => restored.receive(first), e2e.ReplayedFrame);
});

test("a restored session refuses what the old one already opened", () => {
  const { v, c } = pair();
  const frame = v.encrypt(text("einmal"));
  c.receive(frame);
  const restored = e2e.importState(roundTrip(c.exportState()));
  assert.throws(() => restored.receive(frame), e2e.ReplayedFrame);
});

test("a restored session cannot answer a new hello", () => {
  const { v, c } = pair();
  const restored = e2e.importState(roundTrip(c.exportState()));
  assert.throws(() => restored.receive(v.hello()), e2e.HandshakeError);
});

test("a destroyed session has no state to export", () => {
  const { c } = pair();
  c.destroy();
  assert.throws(() => c.exportState(), e2e.HandshakeError);
});

test("a tampered state is refused", () => {
  const { c } = pair();
  const good = roundTrip(c.exportState());
  const other = pair("chat-other").c.exportState();
  const tamper = [
    (s) => { s.v = 2; },
    (s) => { s.role = "admin"; },
    (s) => { s.chatId = "chat-elsewhere"; },
    (s) => { s.safetyNumber = other.safetyNumber; },
    (s) => { s.visitorPk = other.visitorPk; },
    (s) => { s.identityPk = other.identityPk; },
    (s) => { s.send.key = s.send.key.slice(4); },
    (s) => { s.recv.key = "not base64!"; },
    (s) => { s.send.counter = 0; },
    (s) => { s.recv.counter += 1; },
    (s) => { s.highest = -1; },
    (s) => { s.skipped = [[s.highest + 5, s.send.key]]; },
    (s) => { s.skipped = "none"; },
    (s) => { delete s.counsellorPk; },
  ];
  for (const change of tamper) {
    const state = roundTrip(good);
    change(state);
    assert.throws(() => e2e.importState(state), e2e.CryptoError, change.toString());
  }
  assert.throws(() => e2e.importState(null), e2e.CryptoError);
  assert.equal(e2e.importState(roundTrip(good)).safetyNumber(), c.safetyNumber());
});
