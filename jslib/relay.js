// Reliable delivery over the relay, as specified in docs/protocol.md ("Delivery"); shared by the
// widget and the console. The Python test clients follow the same rules
// (tests/support/delivery.py).
//
// call()        one socket.io call that resolves with the answer and rejects on an error
//               answer, a timeout or a closed socket (CallError with the error code).
// createOutbox  per chat and sender: keeps every envelope until a receipt covers it; sends one
//               at a time in seq order; after a refusal, a timeout or a reconnect sends the same
//               seq again; a refused envelope spends no seq; what stays undelivered is sent
//               again now and then (the relay relays it again while it is unacknowledged).
// createInbox   per chat and receiver: hands envelopes to the page in seq order, each once;
//               acknowledges only up to the last contiguous seq the page has shown (reporting
//               what it could not show as lost); asks for a resync when it sees a gap.
//
// Nothing here reads or keeps plaintext: envelopes are opaque base64 strings. Timers come from
// the `timers` option (default: the global ones), so node tests can drive time themselves.

export const MAX_LOST = 32;              // lost seqs one acknowledgement may report (the relay's cap)
export const MAX_HELD = 1000;            // envelopes an inbox holds ahead of a gap
export const CALL_TIMEOUT_MS = 10000;

/** A refused or failed call: `code` is the relay's error code, "timeout" or "disconnected". */
export class CallError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
  get name() { return "CallError"; }
}

// After these the same seq goes again (later): the envelope was refused only for now, or its
// answer was lost and the relay may or may not have it (a resend is then answered "dup").
const RETRY = new Set(["rate_limited", "unavailable", "internal", "timeout", "disconnected"]);
// After these the relay expects other numbers than ours: the page asks where it stands
// (resume or sync) and calls online(nextSeq) again.
const STALL = new Set(["bad_seq"]);

/** Emit `event` with `payload` and resolve with the answer; reject with a CallError. */
export function call(socket, event, payload, { timeoutMs = CALL_TIMEOUT_MS } = {}) {
  // Never let socket.io buffer a call while disconnected: it would be sent on reconnect
  // besides the resend that follows the resume.
  if (!socket || !socket.connected) return Promise.reject(new CallError("disconnected"));
  return socket.timeout(timeoutMs).emitWithAck(event, payload).then(
    (answer) => {
      if (answer && typeof answer === "object" && typeof answer.error === "string") {
        throw new CallError(answer.error, answer.message);
      }
      return answer;
    },
    (err) => {
      // socket.io rejects a pending call at once when the socket closes.
      const closed = err && /disconnected/.test(String(err.message));
      throw new CallError(closed ? "disconnected" : "timeout");
    },
  );
}

function backoff(base, max) {
  let next = base;
  return {
    take() { const d = next; next = Math.min(max, next * 2); return d; },
    reset() { next = base; },
  };
}

/**
 * The sending half of one chat.
 *
 * transmit(seq, ct) -> Promise of the answer, rejecting with a CallError (use call()).
 * onChange(entry)   entry = {seq, state, tag, error}; state: "queued" (no seq yet), "sent"
 *                   (the relay has it), "delivered" (the receiver showed it), "lost" (received
 *                   but not shown, or dropped by a transfer), "failed" (refused for good:
 *                   error is the code; its seq was not spent).
 * onStall(code)     the relay expects other sequence numbers (bad_seq): find out with
 *                   resume/sync and call online(nextSeq).
 * The outbox is offline until online() is called, after the resume/sync answer.
 */
export function createOutbox({
  transmit, onChange = () => {}, onStall = () => {}, nextSeq = 1, timers = globalThis,
  retryMs = 500, retryMaxMs = 30000, redeliverMs = 5000, redeliverMaxMs = 60000,
} = {}) {
  const entries = [];                    // undelivered, in order; accepted ones first
  let next = nextSeq;                    // the seq the relay expects next from us
  let live = false, busy = false, closed = false, stalled = false;
  let generation = 0;                    // calls from before the last offline/online are moot
  let retryTimer = null, redeliverTimer = null, redeliverDelay = redeliverMs;
  const retry = backoff(retryMs, retryMaxMs);

  const view = (e) => ({ seq: e.seq, state: e.state, tag: e.tag, error: e.error });
  const changed = (e) => { try { onChange(view(e)); } catch { /* the page's problem */ } };
  const clear = (t) => { if (t !== null) timers.clearTimeout(t); return null; };

  function finish(e, state, error) {
    const at = entries.indexOf(e);
    if (at < 0) return;
    entries.splice(at, 1);
    e.state = state;
    e.error = error;
    changed(e);
  }

  // While something sent stays undelivered, it goes again after redeliverDelay, which doubles
  // up to redeliverMaxMs and starts over whenever a receipt moves.
  function armRedeliver() {
    if (closed || redeliverTimer !== null || !entries.some((e) => e.state === "sent")) return;
    redeliverTimer = timers.setTimeout(() => {
      redeliverTimer = null;
      redeliverDelay = Math.min(redeliverMaxMs, redeliverDelay * 2);
      // Still undelivered: send it again; the relay relays it again while unacknowledged.
      for (const e of entries) if (e.state === "sent") e.again = true;
      pump();
      armRedeliver();
    }, redeliverDelay);
  }

  async function pump() {
    if (busy || !live || closed || stalled) return;
    const e = entries.find((x) => x.again || x.state === "queued");
    if (!e) return;
    if (e.seq === null) e.seq = next;
    busy = true;
    const sentIn = generation, seq = e.seq;
    let error = null;
    try { await transmit(seq, e.ct); } catch (err) { error = err; }
    if (sentIn !== generation) return;   // online() has set things straight and pumps itself
    busy = false;
    if (!error) next = Math.max(next, seq + 1);
    // Closed meanwhile, or a receipt covered it before its answer came.
    if (closed || !entries.includes(e)) return pump();
    if (!error) {
      retry.reset();
      e.again = false;
      if (e.state === "queued") {
        e.state = "sent";
        changed(e);
        armRedeliver();
      }
      return pump();
    }
    const code = error instanceof CallError ? error.code : "internal";
    if (RETRY.has(code)) {
      if (code === "disconnected") return;           // online() starts again
      retryTimer = clear(retryTimer);
      retryTimer = timers.setTimeout(() => { retryTimer = null; pump(); }, retry.take());
      return;
    }
    if (STALL.has(code)) {
      stalled = true;
      onStall(code);
      return;
    }
    if (e.state === "queued") {
      // Refused for good (too large, malformed, chat over): its seq is free for the next one.
      e.seq = null;
      finish(e, "failed", code);
      if (code === "invalid") return pump();
    }
    // The chat itself is gone or not ours: nothing else will go through either.
    for (const other of [...entries]) finish(other, "failed", code);
  }

  return {
    /** Queue one envelope (base64 ciphertext); `tag` comes back in onChange. */
    push(ct, tag = null) {
      const e = { seq: null, ct, tag, state: "queued", error: null, again: false };
      if (closed) { e.state = "failed"; e.error = "closed"; changed(e); return view(e); }
      entries.push(e);
      changed(e);
      pump();
      return view(e);
    },

    /** A receipt: everything up to `upto` was shown by the receiver, except `lost`. */
    delivered(upto, lost = []) {
      const gone = new Set(lost);
      let progress = false;
      for (const e of [...entries]) {
        // Receipts never exceed what the relay accepted, and only we send in this direction:
        // a covered seq was accepted even if its answer never came.
        if (e.seq !== null && e.seq <= upto) {
          next = Math.max(next, e.seq + 1);
          finish(e, gone.has(e.seq) ? "lost" : "delivered", null);
          progress = true;
        }
      }
      if (progress) {
        redeliverDelay = redeliverMs;
        redeliverTimer = clear(redeliverTimer);
        armRedeliver();
      }
    },

    /** Connected and resumed/synced: `nextSeq` is the relay's. Everything undelivered goes
     * again in order: what the relay already has is answered "dup" and relayed again. */
    online(nextSeq) {
      if (closed) return;
      if (Number.isInteger(nextSeq)) {
        for (const e of entries) {
          if (e.seq !== null && e.seq < nextSeq && e.state === "queued") {
            e.state = "sent";        // accepted, its answer lost
            changed(e);
          } else if (e.seq !== null && e.seq >= nextSeq) {
            e.seq = null;            // never accepted: numbered again when it goes
          }
        }
        next = nextSeq;
      }
      for (const e of entries) if (e.state === "sent") e.again = true;
      generation += 1;
      busy = false;
      live = true;
      stalled = false;
      retry.reset();
      retryTimer = clear(retryTimer);
      pump();
      armRedeliver();
    },

    /** The socket went away: wait for online(). */
    offline() {
      live = false;
      generation += 1;
      busy = false;
      retryTimer = clear(retryTimer);
    },

    /** Stop for good; what was not delivered is reported failed ("closed"). */
    close() {
      closed = true;
      retryTimer = clear(retryTimer);
      redeliverTimer = clear(redeliverTimer);
      for (const e of [...entries]) finish(e, "failed", "closed");
    },

    get nextSeq() { return next; },
    get pending() { return entries.map(view); },
  };
}

/**
 * The receiving half of one chat.
 *
 * open(seq, ct) -> true once the page has shown the envelope (or processed it, for a
 *                  handshake), false if it could not (it is then acknowledged as lost); may
 *                  return a Promise; throwing counts as false.
 * acknowledge(upto, lost) -> Promise; rejects with a CallError.
 * resync(after) -> Promise; asks the relay for every buffered envelope after `after`.
 * acked: how far this receiver already acknowledged (from resume/sync/accept), or null when
 *        not known yet: envelopes are then held until start().
 */
export function createInbox({
  open, acknowledge, resync, acked = null, timers = globalThis,
  gapMs = 300, gapMaxMs = 30000, retryMs = 500, retryMaxMs = 30000,
} = {}) {
  let cursor = acked;                    // last seq handed to the page (shown or lost)
  let confirmed = acked === null ? 0 : acked;   // last seq the relay has our ack for
  const held = new Map();                // seq -> ct, ahead of the cursor
  const lost = [];                       // lost seqs above `confirmed`
  let opening = null;                    // the seq the page has right now
  let draining = false, acking = false, live = true, closed = false;
  let gapTimer = null, ackTimer = null;
  const gapDelay = backoff(gapMs, gapMaxMs);
  const ackDelay = backoff(retryMs, retryMaxMs);
  const clear = (t) => { if (t !== null) timers.clearTimeout(t); return null; };

  async function drain() {
    if (draining || closed || cursor === null) return;
    draining = true;
    try {
      while (held.has(cursor + 1)) {
        const seq = cursor + 1;
        const ct = held.get(seq);
        held.delete(seq);
        opening = seq;
        let shown = false;
        try { shown = (await open(seq, ct)) === true; } catch { shown = false; }
        opening = null;
        if (closed) return;
        cursor = seq;
        if (!shown) lost.push(seq);
      }
    } finally {
      draining = false;
      opening = null;
    }
    sendAck();
    watchGap();
  }

  function watchGap() {
    if (held.size === 0 || closed) {
      gapTimer = clear(gapTimer);
      gapDelay.reset();
      return;
    }
    if (gapTimer !== null || !live) return;
    gapTimer = timers.setTimeout(async () => {
      gapTimer = null;
      if (held.size === 0 || closed || !live) return;
      try { await resync(cursor); } catch { /* asked again after the next delay */ }
      watchGap();
    }, gapDelay.take());
  }

  async function sendAck() {
    if (acking || !live || closed || cursor === null || cursor <= confirmed) return;
    // At most MAX_LOST lost seqs per acknowledgement: stop just before the next one.
    const report = lost.filter((s) => s > confirmed && s <= cursor);
    const upto = report.length > MAX_LOST ? report[MAX_LOST] - 1 : cursor;
    acking = true;
    try {
      await acknowledge(upto, report.filter((s) => s <= upto));
      confirmed = Math.max(confirmed, upto);
      while (lost.length && lost[0] <= confirmed) lost.shift();
      ackDelay.reset();
      acking = false;
      sendAck();
    } catch (err) {
      acking = false;
      if (err instanceof CallError && err.code === "disconnected") return;  // online() again
      ackTimer = clear(ackTimer);
      ackTimer = timers.setTimeout(() => { ackTimer = null; sendAck(); }, ackDelay.take());
    }
  }

  return {
    /** An envelope from the relay (`msg` event): {seq, ct}. Duplicates are ignored. */
    receive(msg) {
      if (closed || !msg || !Number.isInteger(msg.seq) || typeof msg.ct !== "string") return;
      if ((cursor !== null && msg.seq <= cursor) || msg.seq === opening || held.has(msg.seq)) {
        return;
      }
      if (cursor !== null && msg.seq > cursor + MAX_HELD) return;
      if (cursor === null && held.size >= MAX_HELD) return;
      held.set(msg.seq, msg.ct);
      drain();
    },

    /** Where the relay says this receiver stands: start there, or move up to it (another
     * console tab of the same counsellor showed those); never back. */
    start(ackedUpto) {
      if (closed || !Number.isInteger(ackedUpto)) return;
      if (cursor === null || ackedUpto > cursor) {
        cursor = ackedUpto;
        for (const seq of [...held.keys()]) if (seq <= cursor) held.delete(seq);
      }
      confirmed = Math.max(confirmed, ackedUpto);
      drain();
    },

    /** Connected again: repeat an acknowledgement that did not go through, and look at gaps. */
    online() {
      live = true;
      gapDelay.reset();
      sendAck();
      watchGap();
    },

    offline() {
      live = false;
      gapTimer = clear(gapTimer);
      ackTimer = clear(ackTimer);
    },

    close() {
      closed = true;
      held.clear();
      gapTimer = clear(gapTimer);
      ackTimer = clear(ackTimer);
    },

    get cursor() { return cursor; },
    get confirmed() { return confirmed; },
    get holding() { return [...held.keys()].sort((a, b) => a - b); },
  };
}
