// widget/static/pow-worker.js (the widget's proof-of-work search) finds the very proofs that
// chatserver/sockets/challenge.py finds first (tests/vectors/pow.json), with either hashing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const pow = await import("../../widget/static/pow-worker.js");
const V = JSON.parse(readFileSync(new URL("../../tests/vectors/pow.json", import.meta.url), "utf8"));

test("the first proof and its work match the Python solver", async () => {
  assert.ok(V.cases.length >= 10);
  for (const c of V.cases) {
    assert.equal(pow.search(c.nonce, c.bits, 0, Number(c.proof) + 1), c.proof, c.nonce + " " + c.bits);
    assert.equal(pow.work(c.nonce, c.proof), c.work);
    const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(c.nonce + ":" + c.proof));
    assert.equal(pow.leadingZeroBits(new Uint8Array(digest)), c.work);
  }
});

test("no smaller proof is good enough", () => {
  for (const c of V.cases) {
    if (c.proof !== "0") assert.equal(pow.search(c.nonce, c.bits, 0, Number(c.proof)), null);
  }
});

test("the plain JavaScript hash agrees with WebCrypto across block boundaries", async () => {
  const enc = new TextEncoder();
  for (let length = 0; length < 200; length++) {
    const bytes = enc.encode("ü".repeat(length >> 1) + "x".repeat(length & 1));
    const expected = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    assert.deepEqual(pow.sha256Bytes(bytes), expected, String(length));
  }
  assert.equal(Buffer.from(pow.sha256Bytes(enc.encode("abc"))).toString("hex"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test("a search in chunks finds what one search finds", () => {
  const c = V.cases.find((x) => x.bits === 16);
  let found = null;
  for (let from = 0; found === null; from += pow.CHUNK) found = pow.search(c.nonce, c.bits, from, from + pow.CHUNK);
  assert.equal(found, c.proof);
  assert.ok(Number(c.proof) > pow.CHUNK, "the case spans more than one chunk");
});

test("the WebCrypto search finds the same first proofs", async () => {
  for (const c of V.cases.filter((x) => x.bits <= 12)) {
    assert.equal(await pow.searchDigests(c.nonce, c.bits, 0, Number(c.proof) + 1), c.proof);
    if (c.proof !== "0") assert.equal(await pow.searchDigests(c.nonce, c.bits, 0, Number(c.proof)), null);
  }
});

test("run tries both hashings, then goes on with one, and finds the first proof", async () => {
  for (const c of V.cases) {
    const reports = [];
    assert.equal(await pow.run(c.nonce, c.bits, (tried) => reports.push(tried)), c.proof);
    // Progress only counts up, and only to proofs already tried.
    assert.deepEqual(reports, [...reports].sort((a, b) => a - b));
    assert.ok(reports.every((tried) => tried <= Number(c.proof)), c.nonce + c.bits);
  }
});

test("leading zero bits", () => {
  assert.equal(pow.leadingZeroBits(new Uint8Array([0, 0, 0x10, 0xff])), 19);
  assert.equal(pow.leadingZeroBits(new Uint8Array([0x80])), 0);
  assert.equal(pow.leadingZeroBits(new Uint8Array(4)), 32);
});
