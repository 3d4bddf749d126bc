// widget/static/pow.js, the page's side of proof of work: it asks before every costly event,
// pays only when the server wants bits, asks again once for a nonce lost with its socket, and
// (without a worker, as here in Node) finds the proof itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

const pow = await import("../../widget/static/pow.js");
const { paid } = await import("../relay.js");
const V = JSON.parse(readFileSync(new URL("../../tests/vectors/pow.json", import.meta.url), "utf8"));
const CASE = V.cases.find((c) => c.bits === 12);

/** A socket whose answers come from `answer(event, payload)`; it notes what was emitted. */
function fakeSocket(answer) {
  const emitted = [];
  return { emitted, emitWithAck: async (event, payload) => { emitted.push([event, payload]); return answer(event, payload, emitted); } };
}

test("with bits above zero the proof is paid before the event", async () => {
  const socket = fakeSocket((event, payload) => {
    if (event !== "challenge") return { ok: true, event };
    return payload.proof === undefined ? { ok: true, nonce: CASE.nonce, bits: CASE.bits } : { ok: true, credited: true };
  });
  let worked = 0;
  const ack = await paid(socket, "request", { entry: "exit" }, (challenge) => { worked++; return pow.solve(challenge); });
  assert.deepEqual(ack, { ok: true, event: "request" });
  assert.equal(worked, 1);
  assert.deepEqual(socket.emitted, [["challenge", {}], ["challenge", { proof: CASE.proof }], ["request", { entry: "exit" }]]);
});

test("with bits at zero nothing is solved", async () => {
  const socket = fakeSocket((event) => (event === "challenge" ? { ok: true, nonce: "x", bits: 0 } : { ok: true }));
  await paid(socket, "drop_start", { lang: "de" }, () => assert.fail("no work at zero bits"));
  assert.deepEqual(socket.emitted.map(([event]) => event), ["challenge", "drop_start"]);
});

test("a refused proof is tried once more with a new nonce, then the refusal is the answer", async () => {
  const refusal = { error: "challenge", message: "Ask for a new challenge first." };
  const socket = fakeSocket((event, payload) => {
    if (event !== "challenge") return { ok: true };
    return payload.proof === undefined ? { ok: true, nonce: CASE.nonce, bits: CASE.bits } : refusal;
  });
  assert.deepEqual(await paid(socket, "return", { codename: "a b" }, (challenge) => pow.solve(challenge)), refusal);
  assert.deepEqual(socket.emitted.map(([event]) => event), ["challenge", "challenge", "challenge", "challenge"]);
});

test("an error asking for the challenge is the answer", async () => {
  const socket = fakeSocket(() => ({ error: "rate_limited", message: "later" }));
  assert.equal((await paid(socket, "withdraw", {}, () => assert.fail())).error, "rate_limited");
});

test("without a worker the proof is found on this thread, with progress", async () => {
  const big = V.cases.find((c) => c.bits === 16 && c.nonce === CASE.nonce);
  const seen = [];
  assert.equal(await pow.solve({ nonce: big.nonce, bits: big.bits }, (done) => seen.push(done)), big.proof);
  assert.ok(seen.length >= 2 && seen.every((done, i) => done > 0 && done < 1 && (i === 0 || done > seen[i - 1])), String(seen));
  assert.equal(await pow.zeroBits(big.nonce, big.proof), big.work);
});
