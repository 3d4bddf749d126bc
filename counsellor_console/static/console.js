// The counsellor console: socket, queue, concurrent chats, E2E, canned replies, transfer.
// Text reaches the DOM only via textContent; keys live in memory for this page only.
import * as e2e from "./e2e.js";

const root = document.getElementById("console");
const $ = (id) => document.getElementById(id);
const csrf = root.dataset.csrf;
const consentVersion = root.dataset.consentVersion;
const identity = e2e.signKeyPair();
const chats = new Map();
let me = null, socket = null, certificate = null, current = "", onDuty = false;

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

async function post(url, body) {
  const res = await fetch(url, {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body || {}),
  });
  if (!res.ok) throw new Error(String(res.status));
  return res.json();
}

function chat(id) {
  if (!chats.has(id)) chats.set(id, { id, session: null, log: [], unread: 0, lastIn: 0, nextSeq: 1, info: null });
  return chats.get(id);
}

function renderTabs() {
  const tabs = $("tabs");
  tabs.replaceChildren();
  for (const c of chats.values()) {
    const b = el("button", (c.info ? c.info.entry : "chat") + (c.unread ? ` (${c.unread})` : ""));
    b.type = "button";
    b.setAttribute("role", "tab");
    b.setAttribute("aria-selected", String(c.id === current));
    b.addEventListener("click", () => select(c.id));
    tabs.appendChild(b);
  }
  $("chat").hidden = !chats.has(current);
}

function select(id) {
  current = id;
  const c = chat(id);
  c.unread = 0;
  const log = $("log");
  log.replaceChildren(...c.log.map(([cls, text]) => el("li", text, cls)));
  $("safety").textContent = c.session && c.session.established ? "Sicherheitsnummer / Safety number: " + c.session.safetyNumber() : "";
  renderTabs();
}

function add(id, cls, text) {
  const c = chat(id);
  c.log.push([cls, text]);
  if (id === current) $("log").appendChild(el("li", text, cls)); else c.unread += 1;
  renderTabs();
}

async function sendFrame(id, bytes) {
  const c = chat(id);
  const envelope = { chat_id: id, seq: c.nextSeq++, ct: e2e.b64encode(bytes) };
  // Resend the same envelope until acknowledged: a repeat is answered "dup", never doubled.
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const ack = await socket.timeout(10000).emitWithAck("send", envelope);
      if (ack.error) add(id, "info", ack.message);
      return;
    } catch { /* timed out while reconnecting: try again */ }
  }
  add(id, "info", "Nicht zugestellt / not delivered");
}

async function onMessage(msg) {
  const c = chat(msg.chat_id);
  if (msg.seq <= c.lastIn) return;
  c.lastIn = msg.seq;
  socket.emit("ack", { chat_id: msg.chat_id, upto: msg.seq });
  const frame = e2e.b64decode(msg.ct);
  try {
    if (frame[0] === e2e.VISITOR_HELLO) {
      if (c.session) c.session.destroy();
      c.session = e2e.createCounsellorSession({ identitySecretKey: identity.secretKey, certificate, chatId: c.id });
      const got = c.session.receive(frame);
      await sendFrame(c.id, got.reply);
      add(c.id, "info", "Verbunden / connected");
      if (c.id === current) select(c.id);
      return;
    }
    if (!c.session) return;
    const got = c.session.receive(frame);
    if (got.payload.t === "text") add(c.id, "them", String(got.payload.body));
    else if (got.payload.t === "consent") add(c.id, "info", "Einwilligung / consent: " + got.payload.answer);
  } catch (err) {
    add(c.id, "info", "Nachricht verworfen / message dropped (" + err.code + ")");
  }
}

function renderQueue(items) {
  const list = $("queue");
  list.replaceChildren();
  for (const item of items) {
    const li = el("li", `${item.entry} · ${item.lang} · ${Math.round(item.waiting_s / 60)} min `);
    const b = el("button", "Annehmen / Accept");
    b.type = "button";
    b.addEventListener("click", async () => {
      const ack = await socket.emitWithAck("accept", { chat_id: item.chat_id });
      if (ack.error) { $("status").textContent = ack.message; return; }
      adopt(ack.chat);
    });
    li.appendChild(b);
    list.appendChild(li);
  }
  if (items.length && onDuty && document.hidden === false) $("status").textContent = "Neue Anfrage / new request";
}

function renderRoster(items) {
  const select = $("transfer-to");
  select.replaceChildren();
  for (const r of items) if (!me || r.id !== me.id) {
    const o = el("option", r.pseudonym);
    o.value = r.id;
    select.appendChild(o);
  }
}

function adopt(info) {
  const c = chat(info.chat_id);
  c.info = info;
  c.nextSeq = info.next_seq;
  select(c.id);
}

function drop(id) {
  const c = chats.get(id);
  if (c && c.session) c.session.destroy();
  chats.delete(id);
  if (current === id) current = chats.keys().next().value || "";
  if (current) select(current); else renderTabs();
}

async function loadCanned() {
  const res = await fetch("/console/api/canned");
  if (!res.ok) return;
  const { items } = await res.json();
  const sel = $("canned");
  for (const item of items) {
    const o = el("option", item.title);
    o.value = item.body;
    sel.appendChild(o);
  }
}

async function start() {
  const { token, certificate: cert } = await post("/console/api/socket-token", { identity_pk: e2e.b64encode(identity.publicKey) });
  certificate = cert;
  socket = window.io("/counsellor", { auth: { token }, transports: ["websocket"] });
  socket.on("connect", async () => {
    const snap = await socket.emitWithAck("sync", {});
    me = snap.me;
    onDuty = snap.on_duty;
    $("duty").setAttribute("aria-pressed", String(onDuty));
    $("duty").textContent = onDuty ? "Dienst beenden / Go off duty" : "Dienst beginnen / Go on duty";
    renderQueue(snap.queue);
    renderRoster(snap.roster);
    for (const info of snap.chats) adopt(info);
  });
  socket.on("queue", ({ items }) => renderQueue(items));
  socket.on("roster", ({ items }) => renderRoster(items));
  socket.on("msg", onMessage);
  socket.on("assigned", ({ chat: info }) => adopt(info));
  socket.on("unassigned", ({ chat_id }) => drop(chat_id));
  socket.on("ended", ({ chat_id }) => { add(chat_id, "info", "Beendet / ended"); drop(chat_id); });
  socket.on("presence", ({ chat_id, present }) => add(chat_id, "info", present ? "Besucher:in wieder da / back" : "Besucher:in weg / away"));
  socket.on("connect_error", () => { $("status").textContent = "Keine Verbindung / not connected"; });
  await loadCanned();
}

$("canned-new").addEventListener("submit", async (e) => {
  e.preventDefault();
  const title = $("canned-title").value.trim(), body = $("canned-body").value.trim();
  if (!title || !body) return;
  await post("/console/api/canned", { title, body });
  $("canned-title").value = ""; $("canned-body").value = "";
  const o = el("option", title);
  o.value = body;
  $("canned").appendChild(o);
  $("status").textContent = "Textbaustein angelegt / canned reply added";
});
$("duty").addEventListener("click", async () => {
  const ack = await socket.emitWithAck("duty", { on: !onDuty });
  if (ack.error) { $("status").textContent = ack.message; return; }
  onDuty = ack.on_duty;
  $("duty").setAttribute("aria-pressed", String(onDuty));
  $("duty").textContent = onDuty ? "Dienst beenden / Go off duty" : "Dienst beginnen / Go on duty";
  $("status").textContent = onDuty ? "Im Dienst / on duty" : "Nicht im Dienst / off duty";
});
$("canned").addEventListener("change", (e) => { if (e.target.value) $("text").value = e.target.value; e.target.value = ""; });
$("compose").addEventListener("submit", async (e) => {
  e.preventDefault();
  const c = chats.get(current);
  const text = $("text").value.trim();
  if (!c || !c.session || !c.session.established || !text) return;
  $("text").value = "";
  add(c.id, "me", text);
  await sendFrame(c.id, c.session.encrypt({ t: "text", body: text }));
});
$("consent").addEventListener("click", async () => {
  const c = chats.get(current);
  if (c && c.session && c.session.established) await sendFrame(c.id, c.session.encrypt({ t: "consent_request", version: consentVersion }));
});
$("transfer").addEventListener("click", async () => {
  const to = $("transfer-to").value;
  if (!current || !to) return;
  const ack = await socket.emitWithAck("transfer", { chat_id: current, to, note: "" });
  if (ack.error) $("status").textContent = ack.message;
});
$("end").addEventListener("click", async () => {
  if (!current) return;
  await socket.emitWithAck("end", { chat_id: current });
});

start();
