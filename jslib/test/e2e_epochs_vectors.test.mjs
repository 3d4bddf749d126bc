// jslib/e2e-epochs.js against the known answers chatserver/crypto.py wrote
// (tests/vectors/epochs.json): epochs, links, what was sealed to each, the recovery key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

globalThis.nacl = createRequire(import.meta.url)("tweetnacl");
const e2e = { ...(await import("../e2e.js")), ...(await import("../e2e-keys.js")),
  ...(await import("../e2e-epochs.js")) };
const V = JSON.parse(readFileSync(new URL("../../tests/vectors/epochs.json", import.meta.url), "utf8"));
const { fromHex, hex, b64decode, b64encode } = e2e;
const chain = () => V.epochs.map((e) => ({ pk: b64decode(e.pk), link: e.link ? fromHex(e.link) : null }));

test("the newest secret opens every epoch and everything sealed to each", () => {
  const found = e2e.openEpochs(fromHex(V.epochs.at(-1).sk), chain());
  assert.deepEqual(found.map(hex), V.epochs.map((e) => e.sk));
  const keys = found.map((sk, i) => ({ sk, pk: b64decode(V.epochs[i].pk) })).reverse();
  for (const e of V.epochs) assert.equal(hex(e2e.openSealedAny(keys, fromHex(e.sealed_record_key))), e.record_key);
});

test("an old epoch's secret opens nothing sealed to a newer epoch, nor walks up the chain", () => {
  const first = { sk: fromHex(V.epochs[0].sk), pk: b64decode(V.epochs[0].pk) };
  assert.throws(() => e2e.openSealedAny([first], fromHex(V.epochs[2].sealed_record_key)), e2e.TamperedFrame);
  assert.throws(() => e2e.openEpochs(first.sk, chain()), e2e.TamperedFrame);
});

test("a link that seals another secret is refused", () => {
  const c = chain();
  c[2].link = fromHex(V.swapped_link.link);
  assert.throws(() => e2e.openEpochs(fromHex(V.epochs[2].sk), c), (err) => err.code === V.swapped_link.error);
});

test("the recovery secret gives the certified key however it is typed", () => {
  const r = V.recovery;
  for (const text of [r.secret, r.typed]) {
    const { sk, pk } = e2e.recoveryKeys(text);
    assert.equal(hex(sk), r.sk);
    assert.equal(b64encode(pk), r.pk);
  }
  assert.equal(b64encode(e2e.verifyRecoveryKey(r.pk, r.certificate, V.org_public_key, V.now)), r.pk);
  const newest = V.epochs.at(-1);
  assert.equal(hex(e2e.openRecovery(r.secret, r.pk, fromHex(r.sealed_epoch), newest.pk)), newest.sk);
  for (const wrong of r.wrong_secrets) {
    assert.throws(() => e2e.openRecovery(wrong, r.pk, fromHex(r.sealed_epoch), newest.pk),
      (err) => err instanceof e2e.WrongRecoverySecret && err.code === "recovery");
  }
});

test("recovery certificates are refused with the vector code", () => {
  for (const c of V.recovery.refused) {
    const revoked = (c.revoked || []).map(b64decode);
    assert.throws(() => e2e.verifyRecoveryKey(c.pk, c.cert, V.org_public_key, V.now, revoked),
      (err) => err.code === c.error, c.name);
  }
});
