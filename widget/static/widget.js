// The visitor's chat page (inside the iframe). Text reaches the DOM only via textContent.
// Without "continue after reload" keys and lines live in this page's memory only; with it, the
// resume token sits in sessionStorage and the chat (E2E session, lines, positions) in
// reloadstate.js, encrypted, in this tab's sessionStorage under a key the page cannot export
// (docs/protocol.md, "Reload state"). Envelopes go through relay.js ("Delivery").
import * as e2e from "./e2e.js";
import { call, createInbox, createOutbox, paid as payThenEmit } from "./relay.js";
import { io } from "./socket.io.esm.min.js";

const body = document.body;
const $ = (id) => document.getElementById(id);
// Modules only some visits need load on first use (docs/benchmarks.md, "Widget weight"):
// reloadstate.js with "continue after reload", pow.js when the server asks for work,
// e2e-keys.js (sealing, drops) and messages.js when a visitor leaves or checks a message (and
// while nobody is on duty or the office hours are closed), offline.js for the rest. The frame
// names each with its SRI hash: a modulepreload link fetches and checks it, and import() takes
// the module so checked from the module map.
const modules = new Map();
function lazy(name) {
  if (!modules.has(name)) {
    modules.set(name, new Promise((resolve, reject) => {
      const link = document.createElement("link");
      Object.assign(link, { rel: "modulepreload", href: body.dataset[name + "Src"], integrity: body.dataset[name + "Sri"] });
      link.onload = () => import(link.href).then(resolve, reject);
      link.onerror = () => { modules.delete(name); reject(new Error(name)); };
      document.head.appendChild(link);
    }));
  }
  return modules.get(name);
}

// One tab per chat: a copied tab carries the resume token and the kept chat too, and two pages
// on one session would send with the same counters. The tab holds a Web Lock named after its
// token (hashed) for as long as it lives (reloadstate.js holdTab).
async function holdChat(token) {
  const m = await lazy("reloadstate");
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", e2e.utf8(token)));
  return m.holdTab("erstkontakt-chat-" + e2e.hex(digest).slice(0, 32));
}

function openStore() {
  return lazy("reloadstate").then((m) => m.openReloadState({ name: STATE_DB, tabScoped: true, idleMs: STATE_IDLE_MS }));
}

// A tab that closed mid-chat took its kept record along; the key it left behind goes too.
function dropStoreKey() {
  try { indexedDB.deleteDatabase(STATE_DB); } catch { /* no IndexedDB */ }
}

const cfg = {
  orgPk: body.dataset.orgPk, exitUrl: body.dataset.exitUrl,
  origins: body.dataset.embedOrigins.split(" ").filter(Boolean),
  consent: body.dataset.consentVersion,
};
// Warmed by the host page while it idles (embed.js, "?warm"): hidden and quiet until the
// launcher shows it, so no availability rounds and no resumed chat for a visitor who never
// clicks. Listening from the start: embed.js says it again on the frame's load event.
let parked = new URLSearchParams(location.search).has("warm"), unpark = null;
const unparked = parked ? new Promise((resolve) => { unpark = resolve; }) : Promise.resolve();
window.addEventListener("message", (e) => {
  if (!parked || !cfg.origins.includes(e.origin) || !e.data || e.data.v !== 1 || e.data.type !== "erstkontakt:open") return;
  parked = false;
  unpark();
  // What the warm frame learnt may be old by now; before init is done, init asks.
  if (body.dataset.ready) checkAvailability();
});
// What texts name from the settings: the retention period and the controller.
const VARS = { days: body.dataset.days, controller: body.dataset.controller };
const FATAL = new Set(["certificate", "expired", "revoked", "stale", "handshake", "weak_key"]);
let T = {};
let lang = body.dataset.lang === "en" ? "en" : "de";
const STATUS = { queued: "sending", sent: "sent", delivered: "delivered", lost: "not_delivered", failed: "not_delivered" };
// Frames before the hello of `handshaking` still open with `session`.
let socket = null, revocations = null, session = null, handshaking = null;
let chatId = "", resume = "", outbox = null, inbox = null;
// With "continue after reload": the store and, until the first resume, what it held at load.
// An idle chat lives six hours on the server; what is kept for it here no longer.
const STATE_IDLE_MS = 6 * 3600 * 1000;
const STATE_DB = "erstkontakt-widget-reload";
let store = null, restoring = null, saving = Promise.resolve();
// The last counsellor seq on screen; the lines on screen ({cls, text, mark, li} and, for mine,
// the outbox state); my lines sent before a reload, by seq, until their receipt.
let shown = 0, items = [];
const waitingLines = new Map();
// The next handshake is not vouched for by an earlier session of this chat (a resume that
// lost its session): the counsellor is warned, and so is the visitor.
let unvouched = false;

async function loadLang(l) {
  lang = l;
  const key = l === "en" ? "En" : "De";
  const res = await fetch(body.dataset["i18n" + key], { integrity: body.dataset["i18n" + key + "Sri"] });
  T = await res.json();
  document.documentElement.lang = l;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t, VARS);
  $("lang").value = l;
  // The launcher on the host page speaks the language the visitor chose here.
  if (window.parent !== window) tellHost({ type: "erstkontakt:lang", lang: l });
}

// A server refusal in the visitor's language, by its code (chatserver/errors.py), never the
// server's English.
function refusal(ack) { return t(T["err_" + ack.error] ? "err_" + ack.error : "err"); }

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
let avail = null;

async function checkAvailability() {
  if ($("v-welcome").hidden) return;
  try {
    avail = await (await fetch("/api/availability", { cache: "no-store" })).json();
    showAvailability();
  } catch { /* offline for a moment: the next round asks again */ }
  if (!$("v-welcome").hidden && !parked) setTimeout(checkAvailability, AVAILABILITY_MS + Math.random() * 5000);
}

// Duty decides whether a chat starts; the office hours only what is said (docs/operations.md,
// "Office hours"). Closed, or nobody on duty: messages.js words hours and messages.
function showAvailability() {
  if (!avail) return;
  $("start").disabled = !avail.available;
  $("open").textContent = avail.available && avail.open ? t("open_now") : "";
  // A message being written to us stays on screen even if someone comes on duty.
  if (avail.available && avail.open !== false && !$("drop-text").value && !$("drop-codename").textContent) $("offline").hidden = true;
  else if (!parked) lazy("messages").then((m) => m.showOffline(page)).catch(() => {});
}

// A waiting visitor's place as the server last said it; the estimate counts down between
// updates on this device's clock.
let place = null, placeTimer = 0;

function renderPlace() {
  if (!place || $("v-wait").hidden) { clearInterval(placeTimer); placeTimer = 0; return; }
  const left = place.estimate_s - (Date.now() - place.at) / 1000;
  const minutes = Math.max(1, Math.round(left / 60));
  const text = place.available
    ? t(minutes === 1 ? "position_one" : "position", { position: place.position, minutes })
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
  const item = { cls: kind, text, mark: "", li };
  items.push(item);
  return item;
}

function mark(item, key) {
  item.mark = key;
  let small = item.li.querySelector("small");
  if (!small) { small = document.createElement("small"); item.li.appendChild(small); }
  small.textContent = t(key);
}

// One consistent snapshot of this chat, written after the ones before it (only with
// "continue after reload"); resolves once written.
function persist() {
  if (!store || !chatId) return saving;
  let state;
  try {
    state = {
      v: 1, shown, session: session && session.established ? session.exportState() : null,
      log: items.map(({ cls, text, mark: m, seq, state: st, ct }) => ({ cls, text, mark: m, seq, state: st, ct })),
    };
  } catch { return saving; }
  const s = store, id = chatId;
  saving = saving.then(() => s.save(id, state)).catch(() => {});
  return saving;
}

// What the store kept of this chat before the reload: the session, the lines (offline.js
// restoreLines: mine still unsent go again, those sent wait for their receipt), what was shown.
async function restore(state, sealing) {
  try { session = state.session ? sealing.importState(state.session) : null; } catch { session = null; }
  shown = Number.isInteger(state.shown) ? state.shown : 0;
  (await lazy("offline")).restoreLines(page, state.log);
  if (session) $("peer").textContent = t("peer", { name: session.counsellor.pseudonym, safety: session.safetyNumber() });
  line("info", t("restored"));
}

// A receipt for lines sent before the reload (the outbox knows only what this page sent).
function receipt(upto, lost) {
  for (const [seq, item] of [...waitingLines]) if (seq <= upto) {
    waitingLines.delete(seq);
    item.state = lost.includes(seq) ? "lost" : "delivered";
    mark(item, STATUS[item.state]);
  }
  persist();
}

// A blocking notice about a handshake that no earlier session vouched for.
function showRekey(key) {
  $("rekey-text").textContent = t(key);
  $("rekey").hidden = false;
  setInput(false);
  // Focus on the notice itself, not on its button: an Enter meant for the composer does nothing.
  $("rekey").focus();
}

function wipe() {
  try { sessionStorage.clear(); localStorage.clear(); } catch { /* storage may be blocked */ }
  if (store) store.wipe().catch(() => {}); else dropStoreKey();
  store = restoring = null;
  if (outbox) { outbox.close(); inbox.close(); }
  outbox = inbox = null;
  shown = 0;
  items = [];
  waitingLines.clear();
  forget();
  if (socket) { socket.removeAllListeners(); socket.disconnect(); }
  socket = null;
  chatId = resume = "";
}

// To the embedding page (embed.js), at whichever allowed origin it is.
function tellHost(message) {
  for (const origin of cfg.origins) {
    try { window.parent.postMessage({ v: 1, ...message }, origin); } catch { /* not our parent */ }
  }
}

function quickExit() {
  wipe();
  tellHost({ type: "erstkontakt:exit", url: cfg.exitUrl });
  if (window.top === window) window.location.replace(cfg.exitUrl);
  // Give the host page a moment to handle the message, then blank this frame too.
  else setTimeout(() => window.location.replace("about:blank"), 100);
}

function ended() {
  wipe();
  show("end");
  $("v-end").append($("codename-box"));
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
    onChange: ({ seq, state, tag }) => {
      if (!tag) return;
      Object.assign(tag, { seq, state });
      if (state !== "queued") delete tag.ct;
      mark(tag, STATUS[state]);
      persist();
    },
    onStall: resumeChat,
  });
  inbox = createInbox({
    open: (seq, ct) => present(seq, ct),
    acknowledge: (upto, lost) => call(socket, "ack", { upto, lost }),
    resync: (after) => call(socket, "resync", { after }),
  });
}

async function handshake() {
  // A session this chat already had vouches for the new one (docs/protocol.md, "Key continuity").
  const previous = session && session.established ? session : null;
  if (handshaking) handshaking.destroy();
  handshaking = null;
  setInput(false);
  show("chat");
  line("info", t("verifying"));
  try {
    if (!revocations) revocations = await (await fetch("/api/revocations.json")).json();
    handshaking = e2e.createVisitorSession({ orgPublicKey: cfg.orgPk, chatId, revocationList: revocations });
  } catch { return unverified(); }
  if (outbox) outbox.push(e2e.b64encode(handshaking.hello(previous)));
}

function unverified() {
  line("info", t("unverified"));
  if (socket) socket.emit("end", {});
  setInput(false);
  forget();
}

// One counsellor envelope, in order: true once it is on screen (and kept for a reload), false
// if it could not be shown. What was on screen before a reload is in the restored lines.
async function present(seq, ct) {
  if (seq <= shown) return true;
  let frame, got;
  try {
    frame = e2e.b64decode(ct);
    if (frame[0] === e2e.COUNSELLOR_HELLO) {
      if (!established(frame)) return false;
    } else {
      got = session.receive(frame);
      if (got.payload.t === "text") {
        line("them", String(got.payload.body));
      } else if (got.payload.t === "consent_request") {
        askConsent();
      }
    }
  } catch { line("info", t("unreadable")); return false; }
  shown = seq;
  await persist();
  return true;
}

function established(frame) {
  if (!handshaking) {
    // Not an answer to a hello of ours: someone else started a new session in this chat and
    // the counsellor let them in. Nothing of theirs opens here; the visitor must know.
    if (!session || !session.established) return false;
    line("info", t("rekey_other"));
    showRekey("rekey_other");
    return true;
  }
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
  if (unvouched) { unvouched = false; showRekey("rekey_self"); }
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
  let reloaded = false;
  if (restoring) {
    // The first resume after a reload: take back what the store kept of this chat.
    const saved = await restoring;
    const sealing = await lazy("keys").catch(() => null);
    restoring = null;
    reloaded = true;
    for (const [id, state] of saved) {
      if (id === chatId && state && state.v === 1 && sealing) await restore(state, sealing);
      else if (store) await store.remove(id);
    }
  }
  inbox.start(ack.acked);
  outbox.delivered(ack.delivered.upto, ack.delivered.lost || []);
  receipt(ack.delivered.upto, ack.delivered.lost || []);
  outbox.online(ack.next_seq);
  inbox.online();
  if (ack.status !== "active") waiting(ack);
  else if (!session && !handshaking) {
    // Accepted before the reload, and nothing kept the session: the new one is unvouched.
    unvouched = reloaded;
    await handshake();
  } else if (session && !handshaking && ack.pseudonym && ack.pseudonym !== session.counsellor.pseudonym) {
    // Transferred while this page was away (the event came to nobody): the colleague waits
    // for a hello, which the session so far vouches for.
    line("info", t("transferred"));
    await handshake();
  } else {
    show("chat");
    if (session && $("rekey").hidden) setInput(true);
  }
}

function showCodename(value) {
  $("codename-box").hidden = false;
  setText($("codename-note"), "codename_note");
  // The reading code made at the yes follows the words (offline.js reader).
  $("codename-value").textContent = value + (page.code || "");
  $("codename-copy").hidden = false;
}

// A codename or message code to the clipboard by one button; where the browser refuses (an
// embedding page that did not allow it), the code is selected for the visitor to copy.
async function copy(from, note) {
  try {
    await navigator.clipboard.writeText($(from).textContent);
    setText($(note), "copied");
  } catch {
    getSelection().selectAllChildren($(from));
    setText($(note), "copy_self");
  }
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
  socket.on("delivered", ({ upto, lost }) => {
    if (outbox) outbox.delivered(upto, lost || []);
    receipt(upto, lost || []);
  });
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
  if (ack.error) { line("info", refusal(ack)); return false; }
  chatId = ack.chat_id;
  resume = ack.resume;
  openDelivery();
  inbox.start(0);
  outbox.online(1);
  if ($("remember").checked) {
    sessionStorage.setItem("erstkontakt", JSON.stringify({ resume, lang }));
    holdChat(resume).catch(() => {});
    openStore()
      .then((s) => { if (resume && !store) { store = s; persist(); } else if (s) s.wipe(); })
      .catch(() => {});
  }
  waiting(ack);
  return true;
}

// Chat requests, codename lookups and anonymous messages cost a proof of work when the server
// asks for one (pow.js); a note next to the button that started it says so meanwhile.
const PAID_BY = { request: "start", return: "return-go", drop_check: "return-go", withdraw: "withdraw", drop_start: "drop-send", record_read: "read" };
// (`near`: another button, e.g. writing again under a thread's answers.)
const paid = (event, payload, near) => payThenEmit(socket, event, payload,
  async (challenge) => (await lazy("pow")).working(page, near || PAID_BY[event], challenge));

// What the on-demand halves (messages.js: office hours, messages, answers; offline.js:
// withdrawal, the guide; pow.js: the note while a proof is found) use of this page.
const page = {
  $, t, refusal, cfg, connect, paid, wipe, keys: () => lazy("keys"), data: body.dataset, vars: VARS,
  line, mark, waitingLines, get outbox() { return outbox; },
  get socket() { return socket; },
  get lang() { return lang; },
  get avail() { return avail; },
  async revocations() {
    if (!revocations) revocations = await (await fetch("/api/revocations.json")).json();
    return revocations;
  },
};

async function start() {
  const entry = document.querySelector("input[name=entry]:checked").value;
  connect(async () => opened(await paid("request", { entry, lang, urgent: $("urgent").checked })));
}

async function returnWithCodename() {
  const codename = $("codename").value.trim();
  if (!codename) return;
  connect(async () => {
    // A drop code (codenames are words without digits) never goes to the server (checkDrop),
    // nor does the reading code after the words.
    const words = (await lazy("keys")).codenameWords(codename);
    const ack = words ? await paid("return", { codename: words, lang, urgent: $("urgent").checked }) : { error: 1 };
    if (ack.error) {
      if (!(!words && await (await lazy("messages")).checkDrop(page, codename))) {
        $("return-status").textContent = t("return_unknown");
      }
      wipe();
      return;
    }
    opened(ack);
  });
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

function sendText(event) {
  event.preventDefault();
  const text = $("text").value.trim();
  if (!text || !session || !session.established || !outbox) return;
  $("text").value = "";
  const item = line("me", text);
  item.ct = e2e.b64encode(session.encrypt({ t: "text", body: text }));
  item.state = "queued";
  outbox.push(item.ct, item);
  persist();
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
  // With a yes, the key of a reading code made now: the console seals the visitor's copy to it.
  const reader = answer === "yes" ? await lazy("offline").then((m) => m.reader(page), () => "") : "";
  outbox.push(e2e.b64encode(session.encrypt({ t: "consent", answer, version: cfg.consent, reader })));
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

// The emergency panel sits in the header: one Tab after quick exit in every view, and its
// numbers are in the page, so an emergency never waits for the network.
function toggleSos(open) {
  $("sos-panel").hidden = !open;
  $("sos").setAttribute("aria-expanded", String(open));
  if (!open) $("sos").focus();
}

// "Sicher schreiben": long texts, in offline.js with their catalog, both loaded on first use.
let guideOpener = null;
const fillGuide = async () => (await lazy("offline")).fillGuide(page);

function openGuide(opener) {
  guideOpener = opener;
  $("guide").hidden = false;
  for (const b of document.querySelectorAll(".guide-open")) b.setAttribute("aria-expanded", "true");
  $("guide-title").focus();
  return fillGuide();
}

function closeGuide() {
  $("guide").hidden = true;
  for (const b of document.querySelectorAll(".guide-open")) b.setAttribute("aria-expanded", "false");
  if (guideOpener && guideOpener.offsetParent) guideOpener.focus(); else $("main").focus();
}

async function init() {
  await loadLang(lang);
  $("exit").addEventListener("click", quickExit);
  $("lang").addEventListener("change", (e) => loadLang(e.target.value).then(showAvailability));
  $("start").addEventListener("click", start);
  $("return-go").addEventListener("click", returnWithCodename);
  $("drop-send").addEventListener("click", async () => (await lazy("messages")).leaveDrop(page));
  $("drop-copy").addEventListener("click", () => copy("drop-codename", "drop-copied"));
  $("codename-copy").addEventListener("click", () => copy("codename-value", "codename-copied"));
  $("withdraw").addEventListener("click", askWithdraw);
  $("withdraw-yes").addEventListener("click", async () => (await lazy("offline")).withdraw(page));
  $("read").addEventListener("click", async () => (await lazy("offline")).readRecord(page));
  $("withdraw-no").addEventListener("click", keepRecord);
  $("withdraw-confirm").addEventListener("keydown", (e) => { if (e.key === "Escape") keepRecord(); });
  $("compose").addEventListener("submit", sendText);
  $("text").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) sendText(e); });
  $("end").addEventListener("click", () => { if (socket) socket.emit("end", {}); ended(); });
  $("cancel").addEventListener("click", () => { if (socket) socket.emit("end", {}); ended(); });
  $("consent-yes").addEventListener("click", () => answerConsent("yes"));
  $("consent-no").addEventListener("click", () => answerConsent("no"));
  $("rekey-ok").addEventListener("click", () => {
    $("rekey").hidden = true;
    if (session && session.established) setInput(true);
  });
  $("consent").addEventListener("keydown", (e) => { if (e.key === "Escape") $("text").focus(); });
  onShiftTaps(quickExit);
  $("sos").addEventListener("click", () => toggleSos($("sos-panel").hidden));
  $("sos-panel").addEventListener("keydown", (e) => { if (e.key === "Escape") toggleSos(false); });
  for (const b of document.querySelectorAll(".guide-open")) b.addEventListener("click", () => openGuide(b));
  $("guide-close").addEventListener("click", closeGuide);
  $("guide").addEventListener("keydown", (e) => { if (e.key === "Escape") closeGuide(); });
  $("lang").addEventListener("change", () => { if (!$("guide").hidden) fillGuide(); });
  window.addEventListener("message", (e) => {
    if (cfg.origins.includes(e.origin) && e.data && e.data.v === 1 && e.data.type === "erstkontakt:exit") quickExit();
  });
  const saved = sessionStorage.getItem("erstkontakt");
  if (saved) {
    await unparked;
    const s = JSON.parse(saved);
    resume = s.resume;
    await loadLang(s.lang === "en" ? "en" : "de");
    if (!(await holdChat(resume).catch(() => true))) {
      // Open in another tab: this copy forgets its copy (the other tab's store stays).
      sessionStorage.clear();
      resume = "";
      $("elsewhere").hidden = false;
      return checkAvailability();
    }
    store = await openStore().catch(() => null);
    restoring = store ? store.load().catch(() => new Map()) : null;
    return connect();
  }
  dropStoreKey();
  await checkAvailability();
}

// Texts in, every control answering, availability known (bench/widget_latency.py waits for it).
init().then(() => { body.dataset.ready = "true"; });
