// The visitor's chat page (inside the iframe). Text reaches the DOM only via textContent;
// keys live in memory; only an opted-in resume token touches sessionStorage. Envelopes go
// through relay.js (docs/protocol.md, "Delivery").
import * as e2e from "./e2e.js";
import { call, createInbox, createOutbox } from "./relay.js";
import { io } from "./socket.io.esm.min.js";

const body = document.body;
const $ = (id) => document.getElementById(id);
const cfg = {
  orgPk: body.dataset.orgPk, exitUrl: body.dataset.exitUrl,
  origins: body.dataset.embedOrigins.split(" ").filter(Boolean),
  consent: body.dataset.consentVersion,
};
const FATAL = new Set(["certificate", "expired", "revoked", "stale", "handshake", "weak_key"]);
let T = {};
let lang = body.dataset.lang === "en" ? "en" : "de";
const STATUS = { queued: "sending", sent: "sent", delivered: "delivered", lost: "not_delivered", failed: "not_delivered" };
// Frames before the hello of `handshaking` still open with `session`.
let socket = null, revocations = null, session = null, handshaking = null;
let chatId = "", resume = "", outbox = null, inbox = null;

async function loadLang(l) {
  lang = l;
  const key = l === "en" ? "En" : "De";
  const res = await fetch(body.dataset["i18n" + key], { integrity: body.dataset["i18n" + key + "Sri"] });
  T = await res.json();
  document.documentElement.lang = l;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  $("lang").value = l;
}

function t(key, vars = {}) {
  let s = T[key] || key;
  for (const [k, v] of Object.entries(vars)) s = s.replace("{" + k + "}", String(v));
  return s;
}

function show(view) {
  for (const v of ["welcome", "wait", "chat", "end"]) $("v-" + v).hidden = v !== view;
  $("main").focus();
}

// While the welcome view shows, ask now and then whether anyone is on duty, so that a widget
// opened before duty began offers the chat without being reopened (and one opened during duty
// stops offering it when the last counsellor leaves). The same anonymous GET as on opening:
// no cookie, no identifier; one request per open widget every 20-25 s.
const AVAILABILITY_MS = 20000;
let availabilityTimer = 0;

async function checkAvailability() {
  availabilityTimer = 0;
  if ($("v-welcome").hidden) return;
  try {
    const avail = await (await fetch("/api/availability", { cache: "no-store" })).json();
    // A message being written to us stays on screen even if someone comes on duty.
    const writing = $("drop-text").value || $("drop-codename").textContent;
    $("offline").hidden = avail.available && !writing;
    $("hours").textContent = avail.office_hours[lang];
    $("start").disabled = !avail.available;
  } catch { /* offline for a moment: the next round asks again */ }
  if (!$("v-welcome").hidden) availabilityTimer = setTimeout(checkAvailability, AVAILABILITY_MS + Math.random() * 5000);
}

// A waiting visitor's place as the server last said it; the estimate counts down between
// updates on this device's clock.
let place = null, placeTimer = 0;

function renderPlace() {
  if (!place || $("v-wait").hidden) { clearInterval(placeTimer); placeTimer = 0; return; }
  const left = place.estimate_s - (Date.now() - place.at) / 1000;
  const text = place.available
    ? t("position", { position: place.position, minutes: Math.max(1, Math.round(left / 60)) })
    : t("position_only", { position: place.position });
  // Only on change: the line is a live region, read out whenever its text changes.
  if ($("position").textContent !== text) $("position").textContent = text;
}

function line(kind, text) {
  const li = document.createElement("li");
  li.className = kind;
  li.textContent = text;
  $("log").appendChild(li);
  li.scrollIntoView({ block: "end" });
  return li;
}

function mark(li, key) {
  let small = li.querySelector("small");
  if (!small) { small = document.createElement("small"); li.appendChild(small); }
  small.textContent = t(key);
}

function wipe() {
  try { sessionStorage.clear(); localStorage.clear(); } catch { /* storage may be blocked */ }
  if (outbox) { outbox.close(); inbox.close(); }
  outbox = inbox = null;
  forget();
  if (socket) { socket.removeAllListeners(); socket.disconnect(); }
  socket = null;
  chatId = resume = "";
}

function quickExit() {
  wipe();
  for (const origin of cfg.origins) {
    try { window.parent.postMessage({ v: 1, type: "erstkontakt:exit", url: cfg.exitUrl }, origin); } catch { /* not our parent */ }
  }
  if (window.top === window) window.location.replace(cfg.exitUrl);
  // Give the host page a moment to handle the message, then blank this frame too.
  else setTimeout(() => window.location.replace("about:blank"), 100);
}

function ended() {
  wipe();
  show("end");
  if (!$("codename-value").textContent) $("codename-box").hidden = true;
}

function setInput(on) { $("text").disabled = !on; $("send").disabled = !on; if (on) $("text").focus(); }

function forget() {
  for (const s of [session, handshaking]) if (s) s.destroy();
  session = handshaking = null;
}

function openDelivery() {
  outbox = createOutbox({
    transmit: (seq, ct) => call(socket, "send", { seq, ct }),
    onChange: ({ state, tag }) => { if (tag) mark(tag, STATUS[state]); },
    onStall: resumeChat,
  });
  inbox = createInbox({
    open: (seq, ct) => present(ct),
    acknowledge: (upto, lost) => call(socket, "ack", { upto, lost }),
    resync: (after) => call(socket, "resync", { after }),
  });
}

async function handshake() {
  if (handshaking) handshaking.destroy();
  handshaking = null;
  setInput(false);
  show("chat");
  line("info", t("verifying"));
  try {
    if (!revocations) revocations = await (await fetch("/api/revocations.json")).json();
    handshaking = e2e.createVisitorSession({ orgPublicKey: cfg.orgPk, chatId, revocationList: revocations });
  } catch { return unverified(); }
  if (outbox) outbox.push(e2e.b64encode(handshaking.hello()));
}

function unverified() {
  line("info", t("unverified"));
  if (socket) socket.emit("end", {});
  setInput(false);
  forget();
}

function present(ct) {
  let frame, got;
  try {
    frame = e2e.b64decode(ct);
    if (frame[0] === e2e.COUNSELLOR_HELLO) return established(frame);
    got = session.receive(frame);
  } catch { line("info", t("unreadable")); return false; }
  if (got.payload.t === "text") {
    line("them", String(got.payload.body));
  } else if (got.payload.t === "consent_request") {
    askConsent();
  }
  return true;
}

function established(frame) {
  if (!handshaking) return false;
  let got;
  try { got = handshaking.receive(frame); } catch (err) {
    if (FATAL.has(err.code)) unverified();
    return false;
  }
  if (got.kind !== "established") return false;
  if (session) session.destroy();
  session = handshaking;
  handshaking = null;
  $("peer").textContent = t("peer", { name: session.counsellor.pseudonym, safety: session.safetyNumber() });
  setInput(true);
  return true;
}

async function resumeChat() {
  let ack;
  try { ack = await call(socket, "resume", { token: resume }); } catch (err) {
    if (err.code === "not_found") ended(); else setTimeout(() => socket && socket.connected && resumeChat(), 2000);
    return;
  }
  if (ack.status === "ended") { ended(); return showCodename(ack.codename); }
  chatId = ack.chat_id;
  if (!outbox) openDelivery();
  inbox.start(ack.acked);
  outbox.delivered(ack.delivered.upto, ack.delivered.lost || []);
  outbox.online(ack.next_seq);
  inbox.online();
  if (ack.status !== "active") waiting(ack);
  else if (!session && !handshaking) await handshake();
  else show("chat");
}

function showCodename(value) {
  $("codename-box").hidden = false;
  setText($("codename-note"), "codename_note");
  $("codename-value").textContent = value;
}

// Kept in the language when it is switched.
function setText(el, key) {
  el.dataset.t = key;
  el.textContent = t(key);
}

function connect(after) {
  socket = io("/visitor", { transports: ["websocket"] });
  socket.on("connect", async () => {
    if (resume) await resumeChat();
    else if (after) { const run = after; after = null; await run(); }
  });
  socket.on("disconnect", () => { if (outbox) outbox.offline(); if (inbox) inbox.offline(); });
  socket.on("queue", waiting);
  socket.on("accepted", () => { $("requeued").hidden = true; handshake(); });
  socket.on("transferred", () => { line("info", t("transferred")); handshake(); });
  socket.on("requeued", (info) => {
    // The counsellor went off duty: this session is over; a colleague starts a new one.
    forget();
    setInput(false);
    line("info", t("requeued"));
    $("requeued").hidden = false;
    waiting(info);
  });
  socket.on("msg", (msg) => { if (inbox) inbox.receive(msg); });
  socket.on("delivered", ({ upto, lost }) => { if (outbox) outbox.delivered(upto, lost || []); });
  socket.on("codename", ({ codename }) => {
    showCodename(codename);
    call(socket, "codename_ack", { codename }).catch(() => { /* it comes again on resume */ });
  });
  socket.on("ended", ended);
}

function waiting(info) {
  show("wait");
  place = { position: info.position, estimate_s: info.estimate_s, available: info.available !== false, at: Date.now() };
  $("nobody").hidden = place.available;
  renderPlace();
  if (!placeTimer) placeTimer = setInterval(renderPlace, 5000);
}

function opened(ack) {
  if (ack.error) { line("info", ack.message); return false; }
  chatId = ack.chat_id;
  resume = ack.resume;
  openDelivery();
  inbox.start(0);
  outbox.online(1);
  if ($("remember").checked) sessionStorage.setItem("erstkontakt", JSON.stringify({ resume, lang }));
  waiting(ack);
  return true;
}

async function start() {
  const entry = document.querySelector("input[name=entry]:checked").value;
  connect(async () => opened(await socket.emitWithAck("request", { entry, lang })));
}

async function returnWithCodename() {
  const codename = $("codename").value.trim();
  if (!codename) return;
  connect(async () => {
    const ack = await socket.emitWithAck("return", { codename, lang });
    if (ack.error) {
      if (!(await checkDrop(codename))) $("return-status").textContent = t("return_unknown");
      wipe();
      return;
    }
    opened(ack);
  });
}

function normalise(codename) {
  return codename.normalize("NFC").toLowerCase().replaceAll("-", " ").split(/\s+/).filter(Boolean).join(" ");
}

function replyKeys(codename) {
  const seed = window.nacl.hash(e2e.utf8("erstkontakt drop reply" + normalise(codename))).slice(0, 32);
  return { sk: seed, pk: window.nacl.scalarMult.base(seed) };
}

async function leaveDrop() {
  const text = $("drop-text").value.trim();
  if (!text) return;
  const res = await fetch("/api/records-key");
  if (!res.ok) { $("drop-status").textContent = t("return_unknown"); return; }
  const recordsPk = e2e.b64decode((await res.json()).records_pk);
  connect(async () => {
    const start = await socket.emitWithAck("drop_start", { lang });
    if (start.error) { $("drop-status").textContent = start.message; return; }
    const keys = replyKeys(start.codename);
    const recordKey = window.nacl.randomBytes(32), nonce = window.nacl.randomBytes(24);
    const boxed = window.nacl.secretbox(e2e.utf8(JSON.stringify({ t: "drop", body: text })), nonce, recordKey);
    const ack = await socket.emitWithAck("drop", {
      sealed_key: e2e.b64encode(e2e.seal(recordsPk, recordKey)),
      body: e2e.b64encode(e2e.concat(nonce, boxed)), reply_pk: e2e.b64encode(keys.pk) });
    recordKey.fill(0);
    keys.sk.fill(0);
    if (ack.error) { $("drop-status").textContent = ack.message; return; }
    $("drop-text").value = "";
    $("drop-status").textContent = t("drop_done");
    $("drop-codename").textContent = start.codename;
    wipe();
  });
}

async function checkDrop(codename) {
  const ack = await socket.emitWithAck("drop_check", { codename });
  if (ack.error) return false;
  if (!ack.answered) { $("drop-answer").textContent = t("drop_waiting"); return true; }
  const keys = replyKeys(codename);
  const answer = JSON.parse(e2e.fromUtf8(e2e.openSealed(keys.sk, keys.pk, e2e.b64decode(ack.answer))));
  keys.sk.fill(0);
  $("drop-answer").textContent = t("drop_answer") + " " + String(answer.body);
  return true;
}

// Deleting cannot be undone: ask first, focus on the harmless answer.
function askWithdraw() {
  if (!$("codename").value.trim()) { $("return-status").textContent = t("codename_missing"); return; }
  $("return-status").textContent = "";
  $("withdraw-confirm").hidden = false;
  $("withdraw-no").focus();
}

function keepRecord() {
  $("withdraw-confirm").hidden = true;
  $("return-status").textContent = t("withdraw_kept");
  $("withdraw").focus();
}

async function withdraw() {
  $("withdraw-confirm").hidden = true;
  const codename = $("codename").value.trim();
  if (!codename) return;
  connect(async () => {
    const ack = await socket.emitWithAck("withdraw", { codename });
    $("return-status").textContent = ack.error ? t("return_unknown") : t("withdrawn");
    wipe();
  });
}

function sendText(event) {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !session || !session.established || !outbox) return;
  $("text").value = "";
  const li = line("me", text);
  outbox.push(e2e.b64encode(session.encrypt({ t: "text", body: text })), li);
}

// Never takes focus: whoever is typing goes on, and Enter sends their line. The log (a live
// region) announces the question; Tab reaches the dialog, which reads it out.
function askConsent() {
  const open = !$("consent").hidden;
  $("consent").hidden = false;
  if (!open) line("info", t("consent_asked"));
  $("consent-title").scrollIntoView({ block: "nearest" });
}

async function answerConsent(answer) {
  if (!session || !session.established || !outbox) return;
  $("consent").hidden = true;
  outbox.push(e2e.b64encode(session.encrypt({ t: "consent", answer, version: cfg.consent })));
  call(socket, "consent", { answer, version: cfg.consent }).catch(() => {});
  if (answer === "yes") {
    if (!$("codename-value").textContent) {
      $("codename-box").hidden = false;
      setText($("codename-note"), "codename_pending");
    }
    line("info", t("consent_given"));
  } else {
    line("info", t("consent_declined"));
  }
  $("text").focus();
}

// Quick exit on purpose only: TAPS taps within TAP_WINDOW_MS of Shift alone (down and up, no
// other key or click between, no auto-repeat), so German capitals and a held Shift never count.
const TAPS = 3, TAP_WINDOW_MS = 1500;

function onShiftTaps(then) {
  let taps = [], lone = false;
  const reset = () => { lone = false; taps = []; };
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Shift") return reset();
    lone = !e.repeat && !e.ctrlKey && !e.altKey && !e.metaKey;
  }, true);
  document.addEventListener("keyup", (e) => {
    if (e.key !== "Shift") return reset();
    if (!lone) return;
    lone = false;
    const now = performance.now();
    taps = taps.filter((at) => now - at < TAP_WINDOW_MS).concat(now);
    if (taps.length >= TAPS) { taps = []; then(); }
  }, true);
  document.addEventListener("pointerdown", reset, true);
  window.addEventListener("blur", reset);
}

async function init() {
  await loadLang(lang);
  $("exit").addEventListener("click", quickExit);
  $("lang").addEventListener("change", (e) => loadLang(e.target.value));
  $("start").addEventListener("click", start);
  $("return-go").addEventListener("click", returnWithCodename);
  $("drop-send").addEventListener("click", leaveDrop);
  $("withdraw").addEventListener("click", askWithdraw);
  $("withdraw-yes").addEventListener("click", withdraw);
  $("withdraw-no").addEventListener("click", keepRecord);
  $("withdraw-confirm").addEventListener("keydown", (e) => { if (e.key === "Escape") keepRecord(); });
  $("compose").addEventListener("submit", sendText);
  $("text").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) sendText(e); });
  $("end").addEventListener("click", () => { if (socket) socket.emit("end", {}); ended(); });
  $("cancel").addEventListener("click", () => { if (socket) socket.emit("end", {}); ended(); });
  $("consent-yes").addEventListener("click", () => answerConsent("yes"));
  $("consent-no").addEventListener("click", () => answerConsent("no"));
  $("consent").addEventListener("keydown", (e) => { if (e.key === "Escape") $("text").focus(); });
  onShiftTaps(quickExit);
  window.addEventListener("message", (e) => {
    if (cfg.origins.includes(e.origin) && e.data && e.data.v === 1 && e.data.type === "erstkontakt:exit") quickExit();
  });
  const saved = sessionStorage.getItem("erstkontakt");
  if (saved) {
    const s = JSON.parse(saved);
    resume = s.resume;
    await loadLang(s.lang === "en" ? "en" : "de");
    return connect();
  }
  await checkAvailability();
}

init();
