// The one load generator for every target (P: this chat server; B, N: bare relays).
//
//   node bench/node/loadgen.js '<json settings>'
//
// It talks to the orchestrator (bench/run.py) in lines of JSON: it prints {"event": ...}
// lines on stdout and, where a phase has steps, waits for a "go" line on stdin before each.
// Every message carries its intended send time (open loop: a late sender counts as latency)
// and is timed where it arrives, in this same process, so no clocks need to agree.

import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { io } from "socket.io-client";

const settings = JSON.parse(process.argv[2]);
const stdin = createInterface({ input: process.stdin });
const waiting = [];
const lines = [];
stdin.on("line", (line) => {
  const w = waiting.shift();
  if (w) w(line.trim()); else lines.push(line.trim());
});
const nextLine = () => new Promise((resolve) => {
  if (lines.length) resolve(lines.shift()); else waiting.push(resolve);
});
// Wait for the orchestrator's "go"; "stop" (or the end of stdin) ends the run at once.
async function proceed() {
  const line = await nextLine();
  if (line === "stop") { closeAll(); process.exit(0); }
}
stdin.on("close", () => { const w = waiting.shift(); if (w) w("stop"); else lines.push("stop"); });
const say = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// -- connections ---------------------------------------------------------------------------

const sockets = new Set();

function connect(url, namespace, auth) {
  return new Promise((resolve, reject) => {
    const socket = io(url + namespace, {
      transports: ["websocket"], forceNew: true, reconnection: false, auth,
      timeout: 20000,
    });
    socket.once("connect", () => { sockets.add(socket); resolve(socket); });
    socket.once("connect_error", (err) => { socket.close(); reject(err); });
  });
}

async function pool(count, concurrency, make) {
  const out = [];
  let next = 0;
  let failed = 0;
  async function worker() {
    while (next < count) {
      next += 1;
      try { out.push(await make()); } catch { failed += 1; }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { sockets: out, failed };
}

function closeAll() {
  for (const s of sockets) s.close();
  sockets.clear();
}

// -- the two protocols ---------------------------------------------------------------------

// P: the real chat protocol. Visitors queue on /visitor; counsellors, each holding several
// chats, accept on /counsellor with a token the bench launcher issues.
const chatserver = {
  idleNamespace: "/visitor",
  async counsellor(url, index) {
    const resp = await fetch(`${url}/bench/token?name=bench-c${index}-${process.pid}`,
      { method: "POST" });
    const { token } = await resp.json();
    const socket = await connect(url, "/counsellor", { token });
    const duty = await socket.timeout(20000).emitWithAck("duty", { on: true });
    if (!duty.ok) throw new Error("duty refused: " + JSON.stringify(duty));
    return socket;
  },
  async pair(visitorUrl, counsellor) {
    const visitor = await connect(visitorUrl, "/visitor");
    const req = await visitor.timeout(20000).emitWithAck("request", { entry: "exit", lang: "de" });
    if (!req.ok) throw new Error("request refused: " + JSON.stringify(req));
    const acc = await counsellor.timeout(20000).emitWithAck("accept", { chat_id: req.chat_id });
    if (!acc.ok) throw new Error("accept refused: " + JSON.stringify(acc));
    return { visitor, counsellor, chatId: req.chat_id, key: req.chat_id };
  },
  sendV(chat, seq, ct, cb) { chat.visitor.emit("send", { seq, ct }, cb); },
  sendC(chat, seq, ct, cb) { chat.counsellor.emit("send", { chat_id: chat.chatId, seq, ct }, cb); },
  ackV(chat, upto) { chat.visitor.emit("ack", { upto }); },
  ackC(chat, upto) { chat.counsellor.emit("ack", { chat_id: chat.chatId, upto }); },
  keyOfC(msg) { return msg.chat_id; },
  async end(chat) { await chat.visitor.timeout(20000).emitWithAck("end", {}); },
};

// B and N: the same frames without a chat protocol: a pair shares a room.
const bare = {
  idleNamespace: "/",
  async counsellor(url) { return connect(url, "/"); },
  async pair(visitorUrl, counsellor, index) {
    const room = `r${index}-${process.pid}`;
    const visitor = await connect(visitorUrl, "/");
    await visitor.timeout(20000).emitWithAck("join", { room });
    await counsellor.timeout(20000).emitWithAck("join", { room });
    return { visitor, counsellor, room, key: room };
  },
  sendV(chat, seq, ct, cb) { chat.visitor.emit("send", { room: chat.room, seq, ct }, cb); },
  sendC(chat, seq, ct, cb) { chat.counsellor.emit("send", { room: chat.room, seq, ct }, cb); },
  ackV(chat, upto) { chat.visitor.emit("ack", { room: chat.room, upto }); },
  ackC(chat, upto) { chat.counsellor.emit("ack", { room: chat.room, upto }); },
  keyOfC(msg) { return msg.room; },
  async end() {},
};

const proto = settings.protocol === "chatserver" ? chatserver : bare;
const [visitorUrl, counsellorUrl] = [settings.urls[0], settings.urls[settings.urls.length - 1]];

// -- payloads ------------------------------------------------------------------------------

const noise = randomBytes(4096);

function payload(sizeMin, sizeMax, at) {
  // A base64 string of 200–2000 characters standing in for ciphertext; the first 8 bytes
  // hold the intended send time.
  const chars = sizeMin + Math.floor(Math.random() * (sizeMax - sizeMin + 1));
  const bytes = Math.max(9, Math.floor(chars / 4) * 3);
  const buf = Buffer.allocUnsafe(bytes);
  noise.copy(buf, 0, Math.floor(Math.random() * (noise.length - bytes)), noise.length);
  buf.writeDoubleLE(at, 0);
  return buf.toString("base64");
}

const sentAt = (ct) => Buffer.from(ct.slice(0, 12), "base64").readDoubleLE(0);

function percentiles(values) {
  const sorted = Float64Array.from(values).sort();
  const at = (q) => (sorted.length ? sorted[Math.min(sorted.length - 1,
    Math.floor(q * sorted.length))] : null);
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999),
           max: sorted.length ? sorted[sorted.length - 1] : null, n: sorted.length };
}

// -- chats under load ----------------------------------------------------------------------

class Chats {
  constructor() { this.list = []; this.byKey = new Map(); this.latencies = []; this.received = 0; }

  add(chat) {
    chat.seq = { v: 0, c: 0 };
    this.list.push(chat);
    this.byKey.set(chat.key, chat);
  }

  listen(counsellors) {
    const onMsg = (chat, side, msg) => {
      this.latencies.push(performance.now() - sentAt(msg.ct));
      this.received += 1;
      if (side === "c") proto.ackC(chat, msg.seq); else proto.ackV(chat, msg.seq);
    };
    for (const chat of this.list) chat.visitor.on("msg", (msg) => onMsg(chat, "v", msg));
    for (const socket of counsellors) {
      socket.on("msg", (msg) => {
        const chat = this.byKey.get(proto.keyOfC(msg));
        if (chat) onMsg(chat, "c", msg);
      });
    }
  }

  send(chat, at) {
    const fromVisitor = Math.random() < 0.5;
    const side = fromVisitor ? "v" : "c";
    chat.seq[side] += 1;
    const ct = payload(settings.sizeMin ?? 200, settings.sizeMax ?? 2000, at);
    const cb = (answer) => {
      if (answer && answer.error) {
        this.refused += 1;
        this.refusedCodes[answer.error] = (this.refusedCodes[answer.error] || 0) + 1;
      }
    };
    if (fromVisitor) proto.sendV(chat, chat.seq.v, ct, cb); else proto.sendC(chat, chat.seq.c, ct, cb);
  }
}

async function openLoop(chats, rate, seconds) {
  // Poisson arrivals at `rate` messages per second over all chats, sent on schedule.
  chats.latencies = [];
  chats.received = 0;
  chats.refused = 0;
  chats.refusedCodes = {};
  let sent = 0;
  let lag = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  let next = start;
  while (next < end) {
    const now = performance.now();
    while (next <= now && next < end) {
      chats.send(chats.list[Math.floor(Math.random() * chats.list.length)], next);
      sent += 1;
      lag = Math.max(lag, now - next);
      next += -Math.log(1 - Math.random()) * 1000 / rate;
    }
    await sleep(Math.max(0, Math.min(5, next - performance.now())));
  }
  const drainUntil = performance.now() + (settings.drainMs ?? 2000);
  while (chats.received < sent && performance.now() < drainUntil) await sleep(20);
  return {
    rate, seconds, sent, received: chats.received, refused: chats.refused,
    refused_codes: chats.refusedCodes,
    loss: sent ? (sent - chats.received) / sent : 0,
    latency_ms: percentiles(chats.latencies), generator_lag_ms: lag,
  };
}

async function setupChats(pairs, perCounsellor) {
  const nCounsellors = Math.ceil(pairs / perCounsellor);
  const counsellors = (await pool(nCounsellors, 20,
    (() => { let i = 0; return () => proto.counsellor(counsellorUrl, i++); })())).sockets;
  if (counsellors.length !== nCounsellors) throw new Error("counsellor connections failed");
  const chats = new Chats();
  let index = 0;
  const made = await pool(pairs, 50, () => {
    const i = index++;
    return proto.pair(visitorUrl, counsellors[i % counsellors.length], i);
  });
  made.sockets.forEach((chat) => chats.add(chat));
  chats.listen(counsellors);
  return { chats, counsellors, failed: made.failed };
}

// -- phases --------------------------------------------------------------------------------

async function idle() {
  // Levels of idle connections, cumulative; the orchestrator measures between "go"s.
  let open = 0;
  for (const level of settings.levels) {
    const t0 = performance.now();
    const { failed } = await pool(level - open, settings.concurrency ?? 100,
      () => connect(visitorUrl, proto.idleNamespace));
    const seconds = (performance.now() - t0) / 1000;
    const made = level - open - failed;
    open += made;
    say({ event: "ready", level, open, failed, connect_s: seconds, connects_per_s: made / seconds });
    await proceed();
  }
  closeAll();
}

async function load() {
  const t0 = performance.now();
  const { chats, failed } = await setupChats(settings.pairs, settings.perCounsellor ?? 4);
  say({ event: "setup", pairs: chats.list.length, failed, setup_s: (performance.now() - t0) / 1000,
        compression: compression() });
  for (const step of settings.steps) {
    await proceed();
    say({ event: "start", rate: step.rate });
    const result = await openLoop(chats, step.rate, step.seconds);
    say({ event: "end", ...result });
  }
  await proceed();
  closeAll();
}

async function churn() {
  // New chats arrive (Poisson); each exchanges a few messages, ends, and disconnects.
  const counsellors = (await pool(settings.counsellors ?? 10, 10,
    (() => { let i = 0; return () => proto.counsellor(counsellorUrl, 1000 + i++); })())).sockets;
  await proceed();
  say({ event: "start" });
  let started = 0;
  let done = 0;
  let failed = 0;
  const setups = [];
  const running = new Set();
  const one = async (i) => {
    const t0 = performance.now();
    const chat = await proto.pair(visitorUrl, counsellors[i % counsellors.length], 10000 + i);
    setups.push(performance.now() - t0);
    for (let k = 1; k <= (settings.messages ?? 4); k += 1) {
      const answer = await chat.visitor.timeout(20000).emitWithAck(
        "send", proto === chatserver ? { seq: k, ct: payload(200, 2000, performance.now()) }
          : { room: chat.room, seq: k, ct: payload(200, 2000, performance.now()) });
      if (answer.error) throw new Error(answer.error);
    }
    await proto.end(chat);
    chat.visitor.close();
    sockets.delete(chat.visitor);
    done += 1;
  };
  const start = performance.now();
  const end = start + settings.seconds * 1000;
  let next = start;
  while (next < end) {
    while (next <= performance.now() && next < end) {
      const p = one(started++).catch(() => { failed += 1; }).finally(() => running.delete(p));
      running.add(p);
      next += -Math.log(1 - Math.random()) * 1000 / settings.rate;
    }
    await sleep(Math.max(0, Math.min(5, next - performance.now())));
  }
  await Promise.race([Promise.all(running), sleep(10000)]);
  say({ event: "end", rate: settings.rate, seconds: settings.seconds, started, done, failed,
        chats_per_s: done / settings.seconds, setup_ms: percentiles(setups) });
  await proceed();
  closeAll();
}

function compression() {
  // What the server agreed to on the WebSocket handshake (permessage-deflate or none).
  for (const s of sockets) {
    const ws = s.io?.engine?.transport?.ws;
    if (ws) return ws.extensions || "none";
  }
  return "unknown";
}

const phases = { idle, load, churn };
try {
  await phases[settings.phase]();
  process.exit(0);
} catch (err) {
  say({ event: "error", message: String(err && err.message || err) });
  process.exit(1);
}
