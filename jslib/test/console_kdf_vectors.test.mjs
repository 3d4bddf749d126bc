// The console's passphrase KDF (counsellor_console/static/kdf.js with @noble/hashes' scrypt)
// against the known answers Python wrote (tests/vectors/console-kdf.json).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { scryptAsync } from "@noble/hashes/scrypt.js";

const nacl = createRequire(import.meta.url)("tweetnacl");
const kdf = await import("../../counsellor_console/static/kdf.js");
const V = JSON.parse(readFileSync(new URL("../../tests/vectors/console-kdf.json", import.meta.url), "utf8"));
const b64 = (text) => new Uint8Array(Buffer.from(text, "base64"));
const hex = (bytes) => Buffer.from(bytes).toString("hex");

test("the console's parameters are the vectors' and take at least the floor", () => {
  assert.deepEqual({ ...kdf.SCRYPT }, V.current);
  assert.equal(kdf.FLOOR_BYTES, V.floor_bytes);
  assert.equal(kdf.CEILING_BYTES, V.ceiling_bytes);
  assert.ok(128 * kdf.SCRYPT.N * kdf.SCRYPT.r >= 64 * 2 ** 20);
});

for (const c of V.scrypt) {
  test(`scrypt N=${c.N} r=${c.r} p=${c.p} matches Python`, async () => {
    assert.equal(hex(await kdf.scryptKey(scryptAsync, c.passphrase, b64(c.salt), c)), c.key);
  });
}

test("the stored scrypt wrap opens with the passphrase only", async () => {
  const w = V.wraps.scrypt;
  const open = async (passphrase) => {
    const key = await kdf.scryptKey(scryptAsync, passphrase, b64(w.salt), w);
    const raw = b64(w.box);
    return nacl.secretbox.open(raw.subarray(24), raw.subarray(0, 24), key);
  };
  assert.deepEqual(JSON.parse(Buffer.from(await open(V.wraps.passphrase)).toString()), V.wraps.keys);
  assert.equal(await open(V.wraps.passphrase + " "), null);
});

for (const c of V.refused) {
  test(`parameters refused before anything is derived: ${c.why}`, async () => {
    let derived = false;
    const spy = async () => { derived = true; return new Uint8Array(32); };
    assert.throws(() => kdf.scryptParams(c), kdf.WeakParameters);
    await assert.rejects(kdf.scryptKey(spy, "x", new Uint8Array(16), c), kdf.WeakParameters);
    assert.equal(derived, false);
  });
}
