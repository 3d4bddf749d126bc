// The delivery rules of jslib/relay.js (docs/protocol.md, "Delivery"): call, outbox, inbox, and
// both together against a fake relay that loses publishes, answers and receipts.
import { test } from "node:test";
import assert from "node:assert/strict";

const relay = await import("../relay.js");
const { CallError, MAX_LOST, call, createInbox, createOutbox } = relay;

const flush = () => new Promise((resolve) => setImmediate(resolve));

async function settle(rounds = 20) {
  for (let i = 0; i < rounds; i++) await flush();
}

/** Timers under the test's control: advance() runs what falls due, in order. */
function fakeTimers() {
  let now = 0, ids = 0;
  const due = new Map();
  return {
    setTimeout(fn, ms) { ids += 1; due.set(ids, { at: now + ms, fn }); return ids; },
    clearTimeout(id) { due.delete(id); },
    async advance(ms) {
      const end = now + ms;
      for (let guard = 0; guard < 10000; guard++) {
        const next = [...due.entries()].filter(([, d]) => d.at <= end)
          .sort((a, b) => a[1].at - b[1].at)[0];
        if (!next) break;
        due.delete(next[0]);
        now = next[1].at;
        next[1].fn();
        await settle();
      }
      now = end;
      await settle();
    },
    get waiting() { return due.size; },
    get now() { return now; },
  };
}

/** A deterministic random source, so that a failing seed can be run again. */
function random(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x / 2 ** 32;
  };
}

// -- call ---------------------------------------------------------------------------------

function fakeSocket(reply, connected = true) {
  const sent = [];
  return {
    connected,
    sent,
    timeout(ms) {
      return { emitWithAck: (event, payload) => { sent.push({ event, payload, ms }); return reply(event, payload); } };
    },
  };
}

test("call resolves with the answer and rejects on an error answer, a timeout or no socket", async () => {
  const ok = fakeSocket(async () => ({ ok: true, dup: false }));
  assert.deepEqual(await call(ok, "send", { seq: 1, ct: "AAAA" }, { timeoutMs: 123 }), { ok: true, dup: false });
  assert.deepEqual(ok.sent, [{ event: "send", payload: { seq: 1, ct: "AAAA" }, ms: 123 }]);

  const refused = fakeSocket(async () => ({ error: "rate_limited", message: "Slow down." }));
  await assert.rejects(call(refused, "send", {}), (err) => err instanceof CallError &&
    err.code === "rate_limited" && err.message === "Slow down.");

  const silent = fakeSocket(() => Promise.reject(new Error("operation has timed out")));
  await assert.rejects(call(silent, "send", {}), (err) => err.code === "timeout");
  const dropped = fakeSocket(() => Promise.reject(new Error("socket has been disconnected")));
  await assert.rejects(call(dropped, "send", {}), (err) => err.code === "disconnected");

  const offline = fakeSocket(async () => ({ ok: true }), false);
  await assert.rejects(call(offline, "send", {}), (err) => err.code === "disconnected");
  assert.equal(offline.sent.length, 0, "nothing is buffered by socket.io while disconnected");
  await assert.rejects(call(null, "send", {}), (err) => err.code === "disconnected");
});

// -- outbox -------------------------------------------------------------------------------

/** A transmit that answers from a script of outcomes, then "ok"; records every attempt. */
function scripted(outcomes = [], accepted = 0) {
  const attempts = [];
  let last = accepted;
  const transmit = async (seq, ct) => {
    attempts.push([seq, ct]);
    const outcome = outcomes.shift() || "ok";
    if (outcome === "ok") {
      if (seq <= last) return { ok: true, dup: true };
      assert.equal(seq, last + 1, "the outbox never sends a gap");
      last = seq;
      return { ok: true, dup: false };
    }
    if (outcome === "lost-answer") { last = Math.max(last, seq); throw new CallError("timeout"); }
    throw new CallError(outcome);
  };
  return { transmit, attempts, get last() { return last; } };
}

function tracked(options) {
  const changes = [];
  const box = createOutbox({ onChange: (e) => changes.push([e.tag, e.seq, e.state, e.error]), ...options });
  return { box, changes, states: () => Object.fromEntries(changes.map(([tag, , state]) => [tag, state])) };
}

test("outbox sends one at a time in order and keeps each envelope until a receipt covers it", async () => {
  const timers = fakeTimers();
  const relay = scripted();
  const { box, changes, states } = tracked({ transmit: relay.transmit, timers });
  box.push("A", "a");
  box.push("B", "b");
  await settle();
  assert.deepEqual(relay.attempts, [], "offline until the resume/sync answer");
  box.online(1);
  box.push("C", "c");
  await settle();
  assert.deepEqual(relay.attempts, [[1, "A"], [2, "B"], [3, "C"]]);
  assert.deepEqual(states(), { a: "sent", b: "sent", c: "sent" });
  assert.equal(box.nextSeq, 4);
  box.delivered(2, [2]);
  assert.deepEqual(states(), { a: "delivered", b: "lost", c: "sent" });
  assert.deepEqual(box.pending.map((e) => e.seq), [3]);
  box.delivered(1);   // an old receipt changes nothing
  assert.deepEqual(box.pending.map((e) => e.seq), [3]);
  box.delivered(3);
  assert.deepEqual(box.pending, []);
  assert.deepEqual(changes.filter(([tag]) => tag === "a").map(([, , s]) => s), ["queued", "sent", "delivered"]);
  box.close();
});

test("outbox sends the same seq again after rate_limited, with growing pauses, and spends none", async () => {
  const timers = fakeTimers();
  const relay = scripted(["rate_limited", "rate_limited", "rate_limited"], 4);
  const { box, states } = tracked({ transmit: relay.transmit, timers, retryMs: 100 });
  box.online(5);
  box.push("A", "a");
  box.push("B", "b");
  await settle();
  assert.deepEqual(relay.attempts, [[5, "A"]]);
  await timers.advance(99);
  assert.equal(relay.attempts.length, 1);
  await timers.advance(1);
  assert.deepEqual(relay.attempts, [[5, "A"], [5, "A"]]);
  await timers.advance(199);
  assert.equal(relay.attempts.length, 2, "the second pause is longer");
  await timers.advance(1);
  await timers.advance(400);
  assert.deepEqual(relay.attempts, [[5, "A"], [5, "A"], [5, "A"], [5, "A"], [6, "B"]]);
  assert.deepEqual(states(), { a: "sent", b: "sent" });
  box.close();
});

test("outbox: a refused envelope fails without spending its seq; the next one takes it", async () => {
  const timers = fakeTimers();
  const relay = scripted(["ok", "invalid"]);
  const { box, changes } = tracked({ transmit: relay.transmit, timers });
  box.online(1);
  box.push("A", "a");
  box.push("TOO-LARGE", "big");
  box.push("C", "c");
  await settle();
  assert.deepEqual(relay.attempts, [[1, "A"], [2, "TOO-LARGE"], [2, "C"]]);
  assert.deepEqual(changes.find(([tag, , state]) => tag === "big" && state === "failed"),
    ["big", null, "failed", "invalid"]);
  assert.equal(box.nextSeq, 3);
  box.close();
});

test("outbox: a lost answer is retried with the same seq and a dup counts as accepted", async () => {
  const timers = fakeTimers();
  const relay = scripted(["lost-answer"]);
  const { box, states } = tracked({ transmit: relay.transmit, timers, retryMs: 50 });
  box.online(1);
  box.push("A", "a");
  box.push("B", "b");
  await settle();
  await timers.advance(50);
  assert.deepEqual(relay.attempts, [[1, "A"], [1, "A"], [2, "B"]]);
  assert.deepEqual(states(), { a: "sent", b: "sent" });
  box.close();
});

test("outbox after a reconnect: accepted ones go again (dup), the rest renumbered from the relay's next_seq", async () => {
  const timers = fakeTimers();
  const relay = scripted(["ok", "lost-answer"]);
  const { box, states } = tracked({ transmit: relay.transmit, timers });
  box.online(1);
  box.push("A", "a");
  box.push("B", "b");
  box.push("C", "c");
  await settle();
  box.offline();
  await timers.advance(60000);
  // A went through; B's answer was lost after the relay took it (its retry was due after the
  // socket went); C never left.
  assert.deepEqual(relay.attempts, [[1, "A"], [2, "B"]]);
  box.online(3);
  await settle();
  assert.deepEqual(relay.attempts.slice(2), [[1, "A"], [2, "B"], [3, "C"]]);
  assert.deepEqual(states(), { a: "sent", b: "sent", c: "sent" });
  box.delivered(3);
  assert.deepEqual(box.pending, []);
  box.close();
});

test("outbox sends what stays undelivered again after a while, less and less often", async () => {
  const timers = fakeTimers();
  const relay = scripted();
  const { box } = tracked({ transmit: relay.transmit, timers, redeliverMs: 1000, redeliverMaxMs: 4000 });
  box.online(1);
  box.push("A", "a");
  await settle();
  const at = () => relay.attempts.length;
  assert.equal(at(), 1);
  await timers.advance(1000);
  assert.equal(at(), 2);
  await timers.advance(2000);
  assert.equal(at(), 3);
  await timers.advance(4000);
  await timers.advance(4000);
  assert.equal(at(), 5, "the pause stops growing at its maximum");
  box.delivered(1);
  await timers.advance(60000);
  assert.equal(at(), 5, "nothing is sent again once delivered");
  assert.equal(timers.waiting, 0);
  box.close();
});

test("outbox stops on bad_seq until told the relay's next seq, and fails everything when the chat is gone", async () => {
  const timers = fakeTimers();
  const stalls = [];
  const relay = scripted(["bad_seq"]);
  const { box } = tracked({ transmit: relay.transmit, timers, onStall: (c) => stalls.push(c) });
  box.online(7);
  box.push("A", "a");
  await settle();
  await timers.advance(60000);
  assert.deepEqual(stalls, ["bad_seq"]);
  assert.deepEqual(relay.attempts, [[7, "A"]]);
  box.online(1);
  await settle();
  assert.deepEqual(relay.attempts, [[7, "A"], [1, "A"]]);
  box.close();

  const gone = scripted(["not_found"]);
  const other = tracked({ transmit: gone.transmit, timers });
  other.box.online(1);
  other.box.push("X", "x");
  other.box.push("Y", "y");
  await settle();
  assert.deepEqual(other.states(), { x: "failed", y: "failed" });
  assert.deepEqual(gone.attempts, [[1, "X"]]);
  other.box.close();
});

test("outbox: a receipt may arrive before the answer to the send it covers", async () => {
  const timers = fakeTimers();
  let release;
  const transmit = (seq) => new Promise((resolve) => { release = () => resolve({ ok: true, dup: false, seq }); });
  const { box, states } = tracked({ transmit, timers });
  box.online(1);
  box.push("A", "a");
  box.push("B", "b");
  await settle();
  box.delivered(1);
  assert.deepEqual(states(), { a: "delivered", b: "queued" });
  release();
  await settle();
  assert.equal(box.nextSeq, 2, "A's answer still counts: B goes as 2");
  release();
  await settle();
  assert.equal(box.nextSeq, 3);
  assert.deepEqual(states(), { a: "delivered", b: "sent" });
  box.close();
});

// -- inbox --------------------------------------------------------------------------------

function inboxWith(options = {}) {
  const shown = [], acks = [], resyncs = [];
  const inbox = createInbox({
    open: options.open || ((seq, ct) => { shown.push([seq, ct]); return true; }),
    acknowledge: options.acknowledge || (async (upto, lost) => { acks.push([upto, lost]); }),
    resync: async (after) => { resyncs.push(after); },
    acked: "acked" in options ? options.acked : 0,
    timers: options.timers || fakeTimers(),
    gapMs: 100,
  });
  return { inbox, shown, acks, resyncs };
}

test("inbox hands envelopes over in order and once, and acknowledges only the contiguous part", async () => {
  const timers = fakeTimers();
  const { inbox, shown, acks, resyncs } = inboxWith({ timers });
  inbox.receive({ seq: 1, ct: "one" });
  inbox.receive({ seq: 3, ct: "three" });
  inbox.receive({ seq: 1, ct: "one" });
  await settle();
  assert.deepEqual(shown, [[1, "one"]]);
  assert.deepEqual(acks, [[1, []]]);
  assert.deepEqual(inbox.holding, [3]);
  // A gap: after a short wait the inbox asks for everything after its cursor, then less often.
  await timers.advance(100);
  assert.deepEqual(resyncs, [1]);
  await timers.advance(150);
  assert.deepEqual(resyncs, [1], "the second ask waits longer");
  await timers.advance(50);
  assert.deepEqual(resyncs, [1, 1]);
  inbox.receive({ seq: 2, ct: "two" });
  inbox.receive({ seq: 3, ct: "three" });
  await settle();
  assert.deepEqual(shown, [[1, "one"], [2, "two"], [3, "three"]]);
  assert.deepEqual(acks, [[1, []], [3, []]]);
  await timers.advance(10000);
  assert.deepEqual(resyncs, [1, 1], "no more asking once the gap is filled");
  inbox.close();
});

test("inbox acknowledges only after the page confirms it showed the envelope", async () => {
  let confirm;
  const { inbox, acks } = inboxWith({ open: () => new Promise((resolve) => { confirm = resolve; }) });
  inbox.receive({ seq: 1, ct: "one" });
  await settle();
  assert.deepEqual(acks, []);
  confirm(true);
  await settle();
  assert.deepEqual(acks, [[1, []]]);
  inbox.close();
});

test("inbox reports what the page could not show as lost, at most MAX_LOST per acknowledgement", async () => {
  const opened = [];
  const { inbox, acks } = inboxWith({
    open: (seq) => {
      opened.push(seq);
      if (seq === 2) return false;
      if (seq === 3) throw new Error("does not decrypt");
      return seq < 10 || seq > 10 + MAX_LOST + 1;   // a run of lost ones in the middle
    },
  });
  for (let seq = 1; seq <= 60; seq++) inbox.receive({ seq, ct: "x" });
  await settle(60);
  assert.deepEqual(opened, Array.from({ length: 60 }, (_, i) => i + 1));
  const reported = acks.flatMap(([, lost]) => lost);
  const expected = [2, 3, ...Array.from({ length: MAX_LOST + 2 }, (_, i) => 10 + i)];
  assert.deepEqual(reported, expected);
  assert.ok(acks.every(([, lost]) => lost.length <= MAX_LOST));
  assert.equal(acks.at(-1)[0], 60);
  assert.ok(acks.every(([upto, lost]) => lost.every((s) => s <= upto)));
  inbox.close();
});

test("inbox not yet started holds envelopes; start() skips what was acknowledged before", async () => {
  const { inbox, shown, acks } = inboxWith({ acked: null });
  inbox.receive({ seq: 2, ct: "two" });
  inbox.receive({ seq: 3, ct: "three" });
  await settle();
  assert.deepEqual(shown, []);
  inbox.start(2);
  await settle();
  assert.deepEqual(shown, [[3, "three"]]);
  assert.deepEqual(acks, [[3, []]]);
  inbox.start(1);   // never back
  assert.equal(inbox.cursor, 3);
  inbox.close();
});

test("inbox repeats an acknowledgement that failed: later on refusal, at once when back online", async () => {
  const timers = fakeTimers();
  const outcomes = ["rate_limited", "disconnected"];
  const acks = [];
  const { inbox } = inboxWith({
    timers,
    acknowledge: async (upto, lost) => {
      acks.push(upto);
      const outcome = outcomes.shift();
      if (outcome) throw new CallError(outcome);
      void lost;
    },
  });
  inbox.receive({ seq: 1, ct: "x" });
  await settle();
  assert.deepEqual(acks, [1]);
  await timers.advance(500);
  assert.deepEqual(acks, [1, 1]);
  await timers.advance(60000);
  assert.deepEqual(acks, [1, 1], "disconnected: waits for online()");
  inbox.online();
  await settle();
  assert.deepEqual(acks, [1, 1, 1]);
  assert.equal(inbox.confirmed, 1);
  inbox.close();
});

test("inbox moves past what the relay says expired unread (the resync answer's acked)", async () => {
  const timers = fakeTimers();
  const shown = [], acks = [];
  const inbox = createInbox({
    open: (seq) => { shown.push(seq); return true; },
    acknowledge: async (upto, lost) => { acks.push([upto, lost]); },
    // Seqs 2 to 4 stayed unacknowledged too long: the relay counts them lost and says so.
    resync: async () => ({ ok: true, acked: 4 }),
    acked: 0, timers, gapMs: 100,
  });
  inbox.receive({ seq: 1, ct: "one" });
  inbox.receive({ seq: 5, ct: "five" });
  await settle();
  assert.deepEqual(shown, [1]);
  await timers.advance(100);
  assert.deepEqual(shown, [1, 5]);
  assert.deepEqual(acks, [[1, []], [5, []]]);
  assert.deepEqual(inbox.holding, []);
  inbox.close();
});

test("inbox ignores garbage and does not hold unboundedly far ahead", async () => {
  const { inbox, shown } = inboxWith();
  for (const bad of [null, {}, { seq: "1", ct: "x" }, { seq: 1.5, ct: "x" }, { seq: 1 }, { seq: 1, ct: 5 }]) inbox.receive(bad);
  inbox.receive({ seq: relay.MAX_HELD + 5, ct: "far" });
  await settle();
  assert.deepEqual(shown, []);
  assert.deepEqual(inbox.holding, []);
  inbox.close();
});

// -- both ends against a relay that loses things -----------------------------------------

/** The relay's delivery rules (chatserver/relay) for one direction, with faults injected. */
function lossyRelay(rnd, { losePublish, loseAnswer, refuse, loseReceipt }) {
  const state = { last: 0, buffer: [], acked: 0, lost: [], receiverOnline: true };
  const ends = { inbox: null, outbox: null };
  const later = (fn) => setImmediate(fn);
  const publish = (env) => {
    if (state.receiverOnline && rnd() >= losePublish) later(() => ends.inbox.receive({ ...env }));
  };
  const receipt = () => { if (rnd() >= loseReceipt) later(() => ends.outbox.delivered(state.acked, [...state.lost])); };
  return {
    ends,
    state,
    async send(seq, ct) {
      if (rnd() < refuse) throw new CallError("rate_limited");
      let answer;
      if (seq <= state.last) {
        const buffered = state.buffer.find((e) => e.seq === seq);
        if (buffered) publish(buffered); else if (state.acked >= seq) receipt();
        answer = { ok: true, dup: true };
      } else {
        if (seq !== state.last + 1) throw new CallError("bad_seq");
        state.last = seq;
        const env = { seq, ct };
        state.buffer.push(env);
        publish(env);
        answer = { ok: true, dup: false };
      }
      if (rnd() < loseAnswer) throw new CallError("timeout");
      return answer;
    },
    async ack(upto, lost) {
      upto = Math.min(upto, state.last);
      if (upto > state.acked) {
        state.lost.push(...lost.filter((s) => s > state.acked && s <= upto));
        state.acked = upto;
        state.buffer = state.buffer.filter((e) => e.seq > upto);
      }
      receipt();
    },
    async resync(after) {
      for (const env of state.buffer) if (env.seq > after) publish(env);
    },
    /** The receiver's socket drops, then resumes: the buffer is replayed to it. */
    async receiverAway(timers, ms) {
      state.receiverOnline = false;
      ends.inbox.offline();
      await timers.advance(ms);
      state.receiverOnline = true;
      for (const env of state.buffer) later(() => ends.inbox.receive({ ...env }));
      ends.inbox.start(state.acked);
      ends.inbox.online();
    },
  };
}

test("whatever the relay loses, each envelope is shown once and in order, and only shown ones are marked delivered", async () => {
  for (let seed = 1; seed <= 150; seed++) {
    const rnd = random(seed);
    const timers = fakeTimers();
    const faults = { losePublish: rnd() * 0.4, loseAnswer: rnd() * 0.3, refuse: rnd() * 0.3, loseReceipt: rnd() * 0.4 };
    const fake = lossyRelay(rnd, faults);
    const shown = [], unreadable = new Set(), marks = new Map();
    const inbox = createInbox({
      open: (seq, ct) => {
        if (ct.startsWith("garbled")) { unreadable.add(ct); return false; }
        shown.push(ct);
        return true;
      },
      acknowledge: (upto, lost) => fake.ack(upto, lost),
      resync: (after) => fake.resync(after),
      acked: 0, timers, gapMs: 200,
    });
    const outbox = createOutbox({
      transmit: (seq, ct) => fake.send(seq, ct),
      onChange: (e) => marks.set(e.tag, e.state),
      timers, retryMs: 100, redeliverMs: 1000, redeliverMaxMs: 4000,
    });
    fake.ends.inbox = inbox;
    fake.ends.outbox = outbox;
    outbox.online(1);
    const texts = [];
    const count = 5 + Math.floor(rnd() * 20);
    for (let i = 0; i < count; i++) {
      const text = (rnd() < 0.1 ? "garbled-" : "text-") + i;
      texts.push(text);
      outbox.push(text, text);
      if (rnd() < 0.3) await timers.advance(Math.floor(rnd() * 500));
      if (rnd() < 0.1) {   // the sender's socket drops and comes back
        outbox.offline();
        await timers.advance(300);
        outbox.online(fake.state.last + 1);
      }
      if (rnd() < 0.1) await fake.receiverAway(timers, Math.floor(rnd() * 3000));
    }
    for (let round = 0; round < 120 && outbox.pending.length; round++) await timers.advance(1000);
    const readable = texts.filter((t) => !t.startsWith("garbled"));
    assert.deepEqual(shown, readable, `seed ${seed}: shown once, in order`);
    assert.deepEqual(outbox.pending, [], `seed ${seed}: every envelope settled`);
    for (const text of texts) {
      assert.equal(marks.get(text), text.startsWith("garbled") ? "lost" : "delivered", `seed ${seed}: ${text}`);
    }
    outbox.close();
    inbox.close();
  }
});
