// Delivery over the relay for widget and console: rules in docs/protocol.md ("Delivery").

export const MAX_LOST = 32;
export const MAX_HELD = 1000;

export class CallError extends Error {
  constructor(code, message) { super(message || code); this.code = code; }
}

const RETRY = new Set(["rate_limited", "unavailable", "internal", "timeout", "disconnected"]);

export function call(socket, event, payload, { timeoutMs = 10000 } = {}) {
  // Not buffered by socket.io while disconnected: the outbox sends again after the resume.
  if (!socket || !socket.connected) return Promise.reject(new CallError("disconnected"));
  return socket.timeout(timeoutMs).emitWithAck(event, payload).then((a) => {
    if (a && typeof a.error === "string") throw new CallError(a.error, a.message);
    return a;
  }, (err) => {
    throw new CallError(/disconnected/.test(String(err && err.message)) ? "disconnected" : "timeout");
  });
}

/**
 * Emit `event` with `payload` on `socket`, paying a proof of work first if the server asks
 * (docs/security.md, "Proof of work"); the answer. `work(challenge)` finds the proof.
 */
export async function paid(socket, event, payload, work) {
  // Twice at most: a nonce dies with its socket, so one that reconnected meanwhile needs another.
  for (let attempt = 0; ; attempt++) {
    const challenge = await socket.emitWithAck("challenge", {});
    if (challenge.error) return challenge;
    if (challenge.bits > 0) {
      const redeemed = await socket.emitWithAck("challenge", { proof: await work(challenge) });
      if (redeemed.error === "challenge" && attempt === 0) continue;
      if (redeemed.error) return redeemed;
    }
    return socket.emitWithAck(event, payload);
  }
}

function delays(base, max) {
  let next = base;
  return { take() { const d = next; next = Math.min(max, next * 2); return d; }, reset() { next = base; } };
}

function timer(timers) {
  let id = null;
  return {
    set(fn, ms) { this.clear(); id = timers.setTimeout(() => { id = null; fn(); }, ms); },
    clear() { if (id !== null) timers.clearTimeout(id); id = null; },
    get on() { return id !== null; },
  };
}

export function createOutbox({
  transmit, onChange = () => {}, onStall = () => {}, nextSeq = 1, timers = globalThis,
  retryMs = 500, retryMaxMs = 30000, redeliverMs = 5000, redeliverMaxMs = 60000,
} = {}) {
  const entries = [];
  let next = nextSeq, live = false, busy = false, closed = false, stalled = false, gen = 0;
  let againDelay = redeliverMs;
  const retry = delays(retryMs, retryMaxMs), retryTimer = timer(timers), againTimer = timer(timers);
  const view = (e) => ({ seq: e.seq, state: e.state, tag: e.tag, error: e.error });
  const changed = (e) => onChange(view(e));

  function finish(e, state, error = null) {
    const at = entries.indexOf(e);
    if (at < 0) return;
    entries.splice(at, 1);
    Object.assign(e, { state, error });
    changed(e);
  }

  function armAgain() {
    if (closed || againTimer.on || !entries.some((e) => e.state === "sent")) return;
    againTimer.set(() => {
      againDelay = Math.min(redeliverMaxMs, againDelay * 2);
      for (const e of entries) if (e.state === "sent") e.again = true;
      pump();
      armAgain();
    }, againDelay);
  }

  async function pump() {
    if (busy || !live || closed || stalled) return;
    const e = entries.find((x) => x.again || x.state === "queued");
    if (!e) return;
    if (e.seq === null) e.seq = next;
    const seq = e.seq, mine = gen;
    busy = true;
    let error = null;
    try { await transmit(seq, e.ct); } catch (err) { error = err; }
    if (mine !== gen) return;
    busy = false;
    if (!error) {
      next = Math.max(next, seq + 1);
      retry.reset();
      e.again = false;
      if (e.state === "queued") { e.state = "sent"; changed(e); armAgain(); }
      return pump();
    }
    const code = error instanceof CallError ? error.code : "internal";
    if (RETRY.has(code)) {
      if (code !== "disconnected") retryTimer.set(pump, retry.take());
    } else if (code === "bad_seq") {
      stalled = true;
      onStall(code);
    } else if (e.state === "queued" && code === "invalid") {
      e.seq = null; // refused: the seq is not spent
      finish(e, "failed", code);
      pump();
    } else {
      for (const x of [...entries]) finish(x, "failed", code);
    }
  }

  return {
    push(ct, tag = null) {
      const e = { seq: null, ct, tag, state: "queued", error: null, again: false };
      if (closed) { e.state = "failed"; e.error = "closed"; } else entries.push(e);
      changed(e);
      pump();
      return view(e);
    },
    delivered(upto, lost = []) {
      let moved = false;
      for (const e of [...entries]) {
        if (e.seq !== null && e.seq <= upto) {
          next = Math.max(next, e.seq + 1);
          finish(e, lost.includes(e.seq) ? "lost" : "delivered");
          moved = true;
        }
      }
      if (moved) { againDelay = redeliverMs; againTimer.clear(); armAgain(); }
    },
    online(nextSeq) {
      if (closed) return;
      if (Number.isInteger(nextSeq)) {
        for (const e of entries) {
          if (e.seq === null) continue;
          if (e.seq >= nextSeq) e.seq = null;
          else if (e.state === "queued") { e.state = "sent"; changed(e); }
        }
        next = nextSeq;
      }
      for (const e of entries) if (e.state === "sent") e.again = true;
      gen += 1;
      busy = stalled = false;
      live = true;
      retry.reset();
      retryTimer.clear();
      pump();
      armAgain();
    },
    offline() {
      live = busy = false;
      gen += 1;
      retryTimer.clear();
    },
    close() {
      closed = true;
      retryTimer.clear();
      againTimer.clear();
      for (const e of [...entries]) finish(e, "failed", "closed");
    },
    get nextSeq() { return next; },
    get pending() { return entries.map(view); },
  };
}

export function createInbox({
  open, acknowledge, resync, acked = null, timers = globalThis,
  gapMs = 300, gapMaxMs = 30000, retryMs = 500, retryMaxMs = 30000,
} = {}) {
  let cursor = acked, confirmed = acked || 0, opening = null;
  let draining = false, acking = false, live = true, closed = false;
  const held = new Map(), lost = [], gapTimer = timer(timers), ackTimer = timer(timers);
  const gapDelay = delays(gapMs, gapMaxMs), ackDelay = delays(retryMs, retryMaxMs);

  // Where the relay says this receiver stands, or up to it (another tab showed those, or they
  // expired); never back.
  function start(upto) {
    if (closed || !Number.isInteger(upto)) return;
    if (cursor === null || upto > cursor) {
      cursor = upto;
      for (const s of [...held.keys()]) if (s <= cursor) held.delete(s);
    }
    confirmed = Math.max(confirmed, upto);
    drain();
  }

  async function drain() {
    if (draining || closed || cursor === null) return;
    draining = true;
    while (held.has(cursor + 1)) {
      const seq = cursor + 1, ct = held.get(seq);
      held.delete(seq);
      opening = seq;
      let shown = false;
      try { shown = (await open(seq, ct)) === true; } catch { shown = false; }
      opening = null;
      if (closed) return;
      cursor = seq;
      if (!shown) lost.push(seq);
    }
    draining = false;
    sendAck();
    watchGap();
  }

  function watchGap() {
    if (!held.size || closed) { gapTimer.clear(); gapDelay.reset(); return; }
    if (gapTimer.on || !live) return;
    gapTimer.set(async () => {
      if (!held.size || closed || !live) return;
      try {
        const a = await resync(cursor);
        if (a && Number.isInteger(a.acked)) start(a.acked);   // what expired counts as lost
      } catch { /* asked again after the next delay */ }
      watchGap();
    }, gapDelay.take());
  }

  async function sendAck() {
    if (acking || !live || closed || cursor === null || cursor <= confirmed) return;
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
      if (!(err instanceof CallError && err.code === "disconnected")) ackTimer.set(sendAck, ackDelay.take());
    }
  }

  return {
    receive(msg) {
      if (closed || !msg || !Number.isInteger(msg.seq) || typeof msg.ct !== "string") return;
      const s = msg.seq;
      if (cursor !== null && (s <= cursor || s > cursor + MAX_HELD)) return;
      if (s === opening || held.has(s) || held.size >= MAX_HELD) return;
      held.set(s, msg.ct);
      drain();
    },
    start,
    online() { live = true; gapDelay.reset(); sendAck(); watchGap(); },
    offline() { live = false; gapTimer.clear(); ackTimer.clear(); },
    close() { closed = true; held.clear(); gapTimer.clear(); ackTimer.clear(); },
    get cursor() { return cursor; },
    get confirmed() { return confirmed; },
    get holding() { return [...held.keys()].sort((a, b) => a - b); },
  };
}
