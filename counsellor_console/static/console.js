// The counsellor console: socket, queue, concurrent chats, E2E, canned replies, transfer.
// Text reaches the DOM only via textContent. Keys: the identity and box secrets are unlocked by
// keys.js with a passkey or the key passphrase (never sent; docs/protocol.md, "Key custody"),
// kept in this page's memory with the records key; no key is ever made for this page only.
// Each chat's envelopes go through relay.js (docs/protocol.md, "Delivery"). A reload keeps each
// chat (its E2E session, lines and positions) in reloadstate.js (docs/protocol.md, "Reload
// state"), written after every line shown and every send, restored after the first sync.
import * as core from "./e2e.js";
import * as keys from "./e2e-keys.js";
import * as counsellor from "./e2e-counsellor.js";
import { call, createInbox, createOutbox } from "./relay.js";
import { addPasskey, forgetKeys, unlockKeys } from "./keys.js";
import { holdTab, openReloadState, wipeReloadState } from "./reloadstate.js";
import { createNotifications } from "./notifications.js";
// Records-key epochs and their rotation (issue 15): see rotation.js.
import { epochKeys, openTeamSealed, sealEpochsToRecovery, setUpRotation } from "./rotation.js";

// The chat protocol, its long-lived half and the console's side of it, as one namespace.
const e2e = { ...core, ...keys, ...counsellor };

const root = document.getElementById("console");
const $ = (id) => document.getElementById(id);
const csrf = root.dataset.csrf;
const consentVersion = root.dataset.consentVersion;
const chats = new Map();
// Identity (Ed25519) and box (X25519) keys, as keys.js unlocked them.
let identity = null, box = null;
let recordsPk = null, recordsSk = null;
// Every epoch of the records key this console opens, newest first, and the newest's number.
let teamKeys = [], recordsEpoch = 0;
let me = null, socket = null, certificate = null, current = "", onDuty = false;
// The reload store (null without IndexedDB), and what it held when this page loaded, until the
// first sync says which of those chats are still ours.
let reload = null, restoring = null;
// What a line of mine says, per outbox state.
const STATUS = { queued: "wird gesendet / sending", sent: "gesendet / sent",
                 delivered: "zugestellt / delivered", lost: "nicht zugestellt / not delivered",
                 failed: "nicht zugestellt / not delivered" };

// What a request's entry and language codes mean, for people: "exit" reads too much like the
// quick exit, and "return" says nothing of the codename.
const ENTRY = {
  exit: "Denkt über Ausstieg nach / considering leaving",
  relative: "Angehörige / relative",
  professional: "Fachkraft / professional",
  return: "Kommt mit Codewort zurück / returning with a codename",
};
const LANG = { de: "Deutsch", en: "English" };
const entryLabel = (code) => ENTRY[code] || String(code || "Chat");
const langLabel = (code) => LANG[code] || String(code || "");

// Every server refusal (chatserver/errors.py ErrorCode, docs/architecture.md) in the console's
// words; the server's own message is for logs and developers, never shown alone.
const ERRORS = {
  invalid: "Ungültige Anfrage: bitte Seite neu laden / invalid request: please reload the page",
  not_found: "Nicht (mehr) vorhanden: der Chat oder die Akte ist beendet oder gelöscht / no longer there: the chat or record has ended or been deleted",
  forbidden: "Nicht erlaubt: das gehört nicht zu Ihren Chats oder Rechten / not allowed: not one of your chats or rights",
  rate_limited: "Zu viele Anfragen: bitte einen Moment warten / too many requests: please wait a moment",
  queue_full: "Die Warteschlange ist voll / the queue is full",
  taken: "Schon von jemand anderem aus dem Team angenommen / already accepted by a colleague",
  limit: "Sie führen schon so viele Chats wie erlaubt / you already hold as many chats as allowed",
  bad_seq: "Nachrichtenfolge durcheinander: wird neu abgeglichen / messages out of order: resynchronising",
  bad_state: "Gerade nicht möglich / not possible right now",
  reserved: "Diese Person wartet auf ihre bisherige Ansprechperson / this returning visitor waits for their counsellor",
  conflict: "Inzwischen geändert: bitte neu laden / changed meanwhile: please reload",
  challenge: "Sicherheitsprüfung fehlgeschlagen: bitte neu laden / security check failed: please reload",
  no_consent: "Keine Einwilligung der Person / no consent from the visitor",
  no_grant: "Kein Zugriff auf Fallakten: Der Aktenschlüssel wurde Ihnen noch nicht freigegeben; " +
    "bitten Sie jemanden aus dem Team, der ihn hat, um Freigabe. / No access to case records: the records key " +
    "has not been granted to you; ask a colleague who holds it to grant it.",
  unavailable: "Dienst vorübergehend nicht erreichbar: bitte gleich noch einmal / service unavailable for now: please try again shortly",
  internal: "Fehler auf dem Server: bitte noch einmal versuchen / something went wrong on the server: please try again",
};
// Where one code means something more precise for one action.
const REFUSED_WHEN = {
  duty: { bad_state: "Erst alle Chats beenden oder übergeben, dann den Dienst beenden / end or transfer your chats before going off duty" },
  accept: { bad_state: "Erst den Dienst beginnen, dann Chats annehmen / go on duty before accepting chats" },
  transfer: { not_found: "Diese Person ist nicht (mehr) im Dienst / that colleague is not on duty" },
  records: { forbidden: "Nur wer die Akte angelegt hat, oder die Administration, darf das / only the counsellor who filed this record, or an administrator, may do this" },
  grant: { forbidden: "Nur wer den Aktenschlüssel hat, kann ihn freigeben / only someone who holds the records key can grant it" },
};
function refusal(ack, action) {
  const special = REFUSED_WHEN[action] || {};
  return special[ack.error] || ERRORS[ack.error] || "Abgelehnt / refused (" + String(ack.error) + ")";
}

// Destructive actions ask first, in a modal dialog whose focus starts on the harmless answer:
// an Enter still held or repeated from the composer can only cancel, never confirm.
function confirmFirst(title, text, yes) {
  const dialog = $("confirm");
  $("confirm-h").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-no").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}
$("confirm-no").addEventListener("click", () => $("confirm").close(""));
$("confirm-yes").addEventListener("click", () => $("confirm").close("yes"));

// hh:mm on this device's clock.
const hhmm = (ms) => new Date(ms).toLocaleTimeString("de-DE", { hour: "2-digit", minute: "2-digit" });

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
  if (!chats.has(id)) {
    // shown: the last visitor seq on screen before a reload; waiting: my lines sent before it.
    // topics: what the counsellor ticked for the statistics, sent only with the end.
    // record: the case record this chat adds its later lines to ({id, upto}: c.log up to upto
    // is in it), null before a hand-off; appending: those appends, one after the other.
    const c = { id, session: null, log: [], unread: 0, info: null, consent: null, shown: 0,
                waiting: new Map(), saving: Promise.resolve(), topics: new Set(), record: null,
                appending: Promise.resolve() };
    c.outbox = createOutbox({
      transmit: (seq, ct) => call(socket, "send", { chat_id: id, seq, ct }),
      onChange: ({ seq, state, tag }) => {
        if (!tag) return;
        Object.assign(tag, { mark: STATUS[state], seq, state });
        if (state !== "queued") delete tag.ct;
        redraw(c);
        persist(c);
      },
      onStall: () => synchronise(),
    });
    // Until sync, accept or assigned says where this chat's inbox starts, envelopes wait.
    c.inbox = createInbox({
      open: (seq, ct) => present(c, seq, ct),
      acknowledge: (upto, lost) => call(socket, "ack", { chat_id: id, upto, lost }),
      resync: (after) => call(socket, "resync", { chat_id: id, after }),
      acked: null,
    });
    chats.set(id, c);
  }
  return chats.get(id);
}

// One consistent snapshot now, written in order after the ones before it; resolves once
// written (or refused: a reload then loses this chat, nothing else does).
function persist(c) {
  if (!reload || !me || !chats.has(c.id)) return c.saving;
  let state;
  try {
    state = {
      v: 1, user: me.id, shown: c.shown, consent: c.consent, record: c.record,
      session: c.session && c.session.established ? c.session.exportState() : null,
      log: c.log.map(({ cls, text, mark, seq, state: st, ct, at }) => ({ cls, text, mark, seq, state: st, ct, at })),
    };
  } catch { return c.saving; }
  const store = reload;
  c.saving = c.saving.then(() => store.save(c.id, state)).catch(() => {});
  return c.saving;
}

// What the reload store kept of this chat: lines, session, what was shown; my lines that
// were still unsent go again, those sent wait for their receipt.
function restore(c, saved) {
  try {
    c.session = saved.session ? e2e.importState(saved.session) : null;
  } catch { c.session = null; }
  c.shown = Number.isInteger(saved.shown) ? saved.shown : 0;
  c.consent = saved.consent || null;
  c.record = saved.record && typeof saved.record.id === "string" && Number.isInteger(saved.record.upto)
    ? { id: saved.record.id, upto: saved.record.upto, reader: typeof saved.record.reader === "string" ? saved.record.reader : undefined } : null;
  const earlier = c.log;
  c.log = [];
  for (const line of saved.log || []) {
    const item = { cls: String(line.cls), text: String(line.text), mark: String(line.mark || ""),
                   at: Number.isFinite(line.at) ? line.at : 0 };
    c.log.push(item);
    if (line.state === "queued" && typeof line.ct === "string") c.outbox.push(line.ct, item);
    else if (line.state === "sent" && Number.isInteger(line.seq)) {
      Object.assign(item, { seq: line.seq, state: "sent" });
      c.waiting.set(line.seq, item);
    } else if (line.state) item.state = line.state;
  }
  c.log.push(...earlier);
}

// A receipt for lines sent before the reload (the outbox only knows what this page sent).
function receipt(c, upto, lost) {
  for (const [seq, item] of [...c.waiting]) if (seq <= upto) {
    c.waiting.delete(seq);
    item.state = lost.includes(seq) ? "lost" : "delivered";
    item.mark = STATUS[item.state];
  }
  redraw(c);
}

// The text stays the line's first node (tests and screen readers read it first), then the
// time, then the delivery mark.
function entry(item) {
  const li = el("li", item.text, item.cls);
  if (item.at) {
    const time = el("time", " " + hhmm(item.at));
    time.dateTime = new Date(item.at).toISOString();
    li.appendChild(time);
  }
  if (item.mark) li.appendChild(el("small", " " + item.mark));
  return li;
}

// The log follows the newest line unless the counsellor scrolled up to read.
let following = true;
const atBottom = (log) => log.scrollHeight - log.scrollTop - log.clientHeight < 24;
$("log").addEventListener("scroll", () => { following = atBottom($("log")); });
function follow() {
  const log = $("log");
  if (following) log.scrollTop = log.scrollHeight;
}

// Drawing the whole log anew (another chat, a delivery mark) is silent, or a screen reader
// would read it all again; only lines added one by one are announced.
function quietly(c) {
  const log = $("log");
  log.setAttribute("aria-live", "off");
  log.replaceChildren(...c.log.map(entry));
  requestAnimationFrame(() => log.setAttribute("aria-live", "polite"));
}

function redraw(c) {
  if (c.id !== current) return;
  const log = $("log"), top = log.scrollTop;
  quietly(c);
  if (following) follow(); else log.scrollTop = top;
}

// --- notifications (notifications.js): settings kept on the server, tone, desktop notice,
// the count in the title and on the favicon. Its words, by key, until the console's catalogs.
const NOTIFY_TEXT = {
  "notify.legend": "Benachrichtigungen / Notifications",
  "notify.request_sound": "Ton bei neuer Anfrage / sound on a new request",
  "notify.request_notice": "Desktop-Hinweis bei neuer Anfrage / desktop notice on a new request",
  "notify.message_sound": "Ton bei neuer Nachricht in einem anderen Chat / sound on a new message in another chat",
  "notify.message_notice": "Desktop-Hinweis bei neuer Nachricht in einem anderen Chat / desktop notice on a new message in another chat",
  "notify.title": "Erstkontakt",
  "notify.new_request": "Neue Anfrage / new request",
  "notify.new_message_other": "Neue Nachricht in einem anderen Chat / new message in another chat",
  "notify.new_message": "Neue Nachricht / new message",
  "notify.saved": "Einstellung gespeichert / setting saved",
  "notify.save_failed": "Einstellung nicht gespeichert / setting not saved ({status})",
  "notify.load_failed": "Einstellungen nicht geladen / settings not loaded ({status})",
  "notify.blocked": "Desktop-Hinweise sind in diesem Browser blockiert / desktop notices are blocked in this browser",
  "notify.unsupported": "Dieser Browser zeigt keine Desktop-Hinweise / this browser shows no desktop notices",
};
const notifyText = (key, vars = {}) =>
  (NOTIFY_TEXT[key] || key).replace(/\{(\w+)\}/g, (all, name) => (name in vars ? String(vars[name]) : all));
const notices = createNotifications({ t: notifyText, container: $("notify-settings"), base: document.title, csrf });

// Unread lines in background chats and waiting requests (while on duty), in the page title
// and on the favicon.
function retitle() {
  let unread = onDuty ? queueSize : 0;
  for (const c of chats.values()) unread += c.unread;
  notices.count(unread);
}
// --- end of notifications

const chatLabel = (c) => (c.info ? entryLabel(c.info.entry) + " · " + langLabel(c.info.lang) : "Chat");

// The unread count reads "(n)" (screen readers and the tab's name), shown as a badge.
function badge(n) {
  const b = el("span", undefined, "badge");
  b.append(el("span", "(", "visually-hidden"), String(n), el("span", ")", "visually-hidden"));
  return b;
}

// The open chats are a vertical tablist (arrow keys move between them, one tab stop), all
// controlling the one chat pane.
function renderTabs() {
  const tabs = $("tabs");
  const focused = tabs.contains(document.activeElement);
  tabs.replaceChildren();
  for (const c of chats.values()) {
    const b = el("button", (c.newcomer ? "⚠ " : "") + chatLabel(c));
    if (c.unread) b.append(" ", badge(c.unread));
    b.type = "button";
    b.id = "tab-" + c.id;
    b.dataset.chat = c.id;
    b.setAttribute("role", "tab");
    b.setAttribute("aria-controls", "view-chats");
    b.setAttribute("aria-selected", String(c.id === current));
    b.tabIndex = c.id === current ? 0 : -1;
    b.addEventListener("click", () => { select(c.id); showView("chats"); inSight(); });
    tabs.appendChild(b);
  }
  if (focused) { const tab = $("tab-" + current); if (tab) tab.focus(); }
  $("chat").hidden = !chats.has(current);
  $("no-chat").hidden = chats.has(current);
  $("count-chats").replaceChildren(...(chats.size ? [badge(chats.size)] : []));
  retitle();
}

function select(id) {
  current = id;
  const c = chat(id);
  c.unread = 0;
  quietly(c);
  following = true;
  follow();
  $("safety").textContent = c.session && c.session.established ? "Sicherheitsnummer / Safety number: " + c.session.safetyNumber() : "";
  $("safety-how").hidden = !$("safety").textContent;
  describe(c);
  $("chat-record").hidden = !c.record;
  $("chat-record-text").textContent = !c.record ? "" : c.info && c.info.entry === "return"
    ? "Kommt mit Codewort zurück: Akte vorhanden / returning visitor with a codename: has a case record"
    : "Akte angelegt: was jetzt geschrieben wird, kommt dazu / record filed: what is written now is added";
  $("newcomer").hidden = !c.newcomer;
  $("newcomer-safety").textContent = c.newcomer ? c.newcomer.session.safetyNumber() : "";
  // Nothing more goes out in this chat until the counsellor has decided.
  for (const id of ["text", "canned"]) $(id).disabled = Boolean(c.newcomer);
  $("compose").querySelector("button").disabled = Boolean(c.newcomer);
  for (const box of document.querySelectorAll("#topics input")) box.checked = c.topics.has(box.value);
  renderTabs();
}

function add(id, cls, text) {
  const c = chat(id);
  const item = { cls, text, mark: "", at: Date.now() };
  c.log.push(item);
  if (id === current) { $("log").appendChild(entry(item)); follow(); } else c.unread += 1;
  // The open chat's log is a live region itself; a line in another chat is announced by
  // where it arrived, never by its text (that stays in its own chat).
  if (cls === "them" && id !== current) {
    $("announce").textContent = "Neue Nachricht in / new message in: " + chatLabel(c) + " (" + c.unread + ")";
  }
  if (cls === "them") notices.message(id, current, () => { if (chats.has(id)) { select(id); showView("chats"); inSight(); } });
  renderTabs();
  if (cls !== "info") appendLater(c);
  return item;
}

// Continuity (docs/protocol.md, "Continuity"): once a chat has a case record (filed here, or
// a codename return), every later line of it goes into that record, sealed to the certified
// records key like the record itself and padded; lines said while an append is on its way go
// with the next. Only with a grant (the server checks it too): without one the console says
// why once and tries no more in this chat, so the audit trail is not filled with refusals.
// A reader key as the widget sent it: 32 bytes of base64, else none (no copy for the visitor).
function readerKey(text) {
  try { return e2e.b64decode(text).length === 32 ? text : ""; } catch { return ""; }
}

// The visitor's copy (docs/protocol.md, "Continuity"): the same lines, sealed to their reader key.
const forReader = (reader, lines) => reader
  ? e2e.b64encode(e2e.seal(e2e.b64decode(reader), e2e.pad(e2e.utf8(JSON.stringify({ t: "lines", lines }))))) : undefined;

function appendLater(c) {
  if (!c.record || c.appendRefused) return c.appending;
  c.appending = c.appending.then(async () => {
    if (!c.record || c.appendRefused || !chats.has(c.id)) return;
    const upto = c.log.length;
    const lines = c.log.slice(c.record.upto, upto).filter((item) => item.cls !== "info")
      .map((item) => [item.cls, item.text, item.at || 0]);
    if (!lines.length) { c.record.upto = upto; return; }
    if (!recordsPk || !recordsSk) {
      c.appendRefused = true;
      add(c.id, "info", "Spätere Zeilen werden nicht zur Akte hinzugefügt / later lines are not added to the record: " +
        (recordsSk ? recordsRefusal : ERRORS.no_grant));
      return;
    }
    if (c.record.reader === undefined) {
      // A codename return: the record knows the visitor's reader key, if they have one.
      const asked = await socket.emitWithAck("record_reader", { chat_id: c.id });
      c.record.reader = asked.error ? "" : readerKey(asked.reader_pk);
    }
    const body = e2e.b64encode(e2e.seal(recordsPk, e2e.pad(e2e.utf8(JSON.stringify({ t: "lines", lines })))));
    const ack = await socket.emitWithAck("record_append", { chat_id: c.id, body, reader_body: forReader(c.record.reader, lines) });
    if (ack.error) {
      c.appendRefused = true;
      add(c.id, "info", "Spätere Zeilen werden nicht zur Akte hinzugefügt / later lines are not added to the record: " + refusal(ack, "records"));
      return;
    }
    c.record.upto = upto;
    persist(c);
  }).catch(() => {});
  return c.appending;
}

// One visitor envelope, in order: true once it is on screen (or the handshake it carries is
// answered); false if it could not be shown, which the widget then hears as "not delivered".
// What was on screen before a reload is in the restored lines already; what is shown now is
// acknowledged only once it is kept for a reload, so a reload never forgets an acknowledged line.
async function present(c, seq, ct) {
  if (seq <= c.shown) return true;
  try {
    const frame = e2e.b64decode(ct);
    if (frame[0] === e2e.VISITOR_HELLO || frame[0] === e2e.CONTINUED_HELLO) {
      // A new handshake inside a chat that already has a session must be vouched for by that
      // session (docs/protocol.md, "Key continuity"); anything else waits for the counsellor.
      const previous = c.session && c.session.established ? c.session : null;
      const next = e2e.createCounsellorSession({ identitySecretKey: identity.secretKey, certificate, chatId: c.id, previous });
      const got = next.receive(frame);
      c.shown = seq;
      if (previous && !got.payload.continued) {
        if (c.newcomer) c.newcomer.session.destroy();
        c.newcomer = { session: next, reply: e2e.b64encode(got.reply) };
        add(c.id, "info", "Neue, nicht bestätigte Person – noch nicht verbunden / new, unverified participant – not connected yet");
        // Focus goes to the warning itself, never to an answer: an Enter meant for the
        // composer must not connect anyone.
        if (c.id === current) { select(c.id); $("newcomer").focus(); } else renderTabs();
        await persist(c);
        return true;
      }
      connectSession(c, next, e2e.b64encode(got.reply), previous ? "Verbindung erneuert (bestätigt) / connection renewed (vouched for)" : "Verbunden / connected");
      await c.saving;
      return true;
    }
    if (!c.session) throw new e2e.HandshakeError("no session");
    const got = c.session.receive(frame);
    if (got.payload.t === "text") add(c.id, "them", String(got.payload.body));
    else if (got.payload.t === "consent") {
      // reader: the public key of the visitor's reading code, for their own copy of the record.
      c.consent = got.payload.answer === "yes" ? { version: got.payload.version, at: Date.now(), reader: readerKey(got.payload.reader) } : null;
      add(c.id, "info", "Einwilligung / consent: " + got.payload.answer);
      if (c.id === current) describe(c);
    }
    c.shown = seq;
    await persist(c);
    return true;
  } catch (err) {
    add(c.id, "info", "Nachricht nicht lesbar / message could not be read (" + (err.code || "error") + ")");
    return false;
  }
}

// Answer a visitor-hello with `session`: its reply goes out as my next envelope.
function connectSession(c, session, reply, said) {
  if (c.session && c.session !== session) c.session.destroy();
  c.session = session;
  const item = add(c.id, "info", said);
  item.ct = reply;
  c.outbox.push(item.ct, item);
  if (c.id === current) select(c.id);
}

// The counsellor's answer to a hello that the chat's session did not vouch for.
function decideNewcomer(accept) {
  const c = chats.get(current);
  if (!c || !c.newcomer) return;
  const { session, reply } = c.newcomer;
  c.newcomer = null;
  if (accept) connectSession(c, session, reply, "Mit neuer Person verbunden – Sicherheitsnummer vergleichen / connected to the new participant – compare the safety number");
  else {
    session.destroy();
    add(c.id, "info", "Nicht verbunden: die bisherige Verbindung gilt weiter / not connected: the previous connection stays");
    select(c.id);
  }
  persist(c);
}

function sendPayload(c, payload, shownAs) {
  const ct = e2e.b64encode(c.session.encrypt(payload));
  if (!shownAs) { c.outbox.push(ct); persist(c); return; }
  const item = add(c.id, "me", shownAs);
  item.ct = ct;
  c.outbox.push(ct, item);
}

let queueSize = 0, urgentSeen = new Set();
// A tone and a desktop notice as the counsellor chose them (notifications.js).
function announce(count, urgent) {
  if (count > queueSize || urgent) notices.request();
}

// How long someone has waited, as m:ss (h:mm:ss past the hour).
function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds)), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

// Waiting times count up on this device's clock from what the server last said.
let queueShown = [];
function tickQueue() {
  const now = Date.now();
  for (const { span, waited, at } of queueShown) span.textContent = clock(waited + (now - at) / 1000);
}
setInterval(tickQueue, 1000);

// An urgent request (the visitor said so) is marked, and announced once even when the queue
// did not grow (it jumped ahead of others).
function urgentArrived(items) {
  const urgent = items.filter((item) => item.urgent).map((item) => item.chat_id);
  const fresh = urgent.some((id) => !urgentSeen.has(id));
  urgentSeen = new Set(urgent);
  return fresh;
}

function renderQueue(items) {
  announce(items.length, urgentArrived(items));
  queueSize = items.length;
  retitle();
  const list = $("queue");
  list.replaceChildren();
  queueShown = [];
  for (const item of items) {
    const li = el("li", entryLabel(item.entry) + " · " + langLabel(item.lang) + " · wartet / waiting ");
    if (item.urgent) { li.prepend(el("strong", "Dringend / urgent", "urgent"), " · "); li.classList.add("urgent"); }
    const span = el("span", clock(item.waiting_s), "waited");
    queueShown.push({ span, waited: item.waiting_s, at: Date.now() });
    li.appendChild(span);
    li.appendChild(document.createTextNode(" "));
    const b = el("button", "Annehmen / Accept");
    b.type = "button";
    b.addEventListener("click", async () => {
      const ack = await socket.emitWithAck("accept", { chat_id: item.chat_id });
      if (ack.error) { $("status").textContent = refusal(ack, "accept"); return; }
      adopt(ack.chat);
      showView("chats");
      inSight();
    });
    li.appendChild(b);
    list.appendChild(li);
  }
  if (items.length && onDuty && document.hidden === false) {
    $("status").textContent = items.some((item) => item.urgent) ? "Dringende Anfrage / urgent request" : "Neue Anfrage / new request";
  }
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

function showDuty(on, message) {
  onDuty = on;
  $("duty").setAttribute("aria-pressed", String(onDuty));
  $("duty").textContent = onDuty ? "Dienst beenden / Go off duty" : "Dienst beginnen / Go on duty";
  retitle();
  if (message) $("status").textContent = message;
}

// Where the relay says this chat stands (sync, accept, assigned): what the widget showed of
// mine, the next seq, and where my inbox starts; then everything undelivered goes again.
function adopt(info, focus = true) {
  const c = chat(info.chat_id);
  c.info = info;
  if (c.requested === undefined) c.requested = Date.now() - info.waiting_s * 1000;
  if (c.waited === undefined) c.waited = info.waiting_s;
  if (info.record_id && (!c.record || c.record.id !== info.record_id)) {
    // A codename return: everything said in it goes into the record. A chat that filed its
    // record before a reload knows where it stands from its reload state.
    c.record = { id: info.record_id, upto: 0 };
    if (info.entry === "return") add(c.id, "info", "Kommt mit Codewort zurück: Akte vorhanden / returning visitor with a codename: has a case record");
  }
  c.inbox.start(info.acked);
  c.outbox.delivered(info.delivered.upto, info.delivered.lost || []);
  receipt(c, info.delivered.upto, info.delivered.lost || []);
  c.outbox.online(info.next_seq);
  c.inbox.online();
  if (focus) select(c.id); else renderTabs();
  appendLater(c);
}

function drop(id) {
  const c = chats.get(id);
  if (c && c.session) c.session.destroy();
  if (c && c.newcomer) c.newcomer.session.destroy();
  if (c) { c.outbox.close(); c.inbox.close(); }
  chats.delete(id);
  if (reload) reload.remove(id).catch(() => {});
  if (current === id) current = chats.keys().next().value || "";
  if (current) select(current); else renderTabs();
}

// The team's canned replies: in the composer's list and, with edit and delete, in their view.
let cannedEditing = "";
function showCanned(items) {
  const pick = $("canned"), list = $("canned-list");
  pick.replaceChildren(el("option", "–"));
  pick.firstChild.value = "";
  list.replaceChildren();
  for (const item of items) {
    const o = el("option", item.title);
    o.value = item.body;
    pick.appendChild(o);
    const edit = el("button", "Bearbeiten / Edit"), drop = el("button", "Löschen / Delete");
    edit.type = drop.type = "button";
    edit.setAttribute("aria-label", "Bearbeiten / Edit: " + item.title);
    drop.setAttribute("aria-label", "Löschen / Delete: " + item.title);
    edit.addEventListener("click", () => {
      cannedEditing = item.id;
      $("canned-title").value = item.title;
      $("canned-body").value = item.body;
      $("canned-save").textContent = "Änderung speichern / Save change";
      $("canned-title").focus();
    });
    drop.addEventListener("click", async () => {
      if (!await confirmFirst("Textbaustein löschen? / Delete this canned reply?", item.title,
        "Ja, löschen / Yes, delete")) return;
      await cannedRequest("DELETE", item.id, null, "Textbaustein gelöscht / canned reply deleted");
    });
    const li = el("li");
    li.append(el("strong", item.title), el("p", item.body), edit, drop);
    list.appendChild(li);
  }
  $("count-canned").replaceChildren(badge(items.length));
}

async function loadCanned() {
  const res = await fetch("/console/api/canned");
  if (!res.ok) return;
  showCanned((await res.json()).items);
}

// Add (no id), change or delete a canned reply; the list is read again afterwards, and a
// refusal is said, never swallowed.
async function cannedRequest(method, id, body, done) {
  const res = await fetch("/console/api/canned" + (id ? "/" + id : ""), {
    method, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) {
    $("status").textContent = "Textbaustein nicht gespeichert / canned reply not saved (" + res.status + ")";
    return false;
  }
  $("status").textContent = done;
  await loadCanned();
  return true;
}

// The records key is sealed to only once the organisation's certificate of it checks out
// against the pinned org key and, where this console holds the records secret, matches it
// (docs/protocol.md, "Keys bound to identities"); recordsPk is that key, or null with
// recordsRefusal saying why. Opening uses the public half of my own secret.
const orgPk = root.dataset.orgPk;
let recordsRefusal = "Aktenschlüssel noch nicht geprüft / records key not checked yet";
let ownRecordsPk = null;
const nowSeconds = () => Math.floor(Date.now() / 1000);

// The organisation's revoked keys (counsellors' identity keys, retired records keys).
async function revokedKeys() {
  try {
    const res = await fetch("/api/revocations.json", { cache: "no-store" });
    return e2e.verifyRevocationList(await res.json(), orgPk, nowSeconds());
  } catch {
    throw new Error("Keine gültige Sperrliste der Organisation: nichts wird verschlüsselt / " +
      "no valid revocation list of the organisation: nothing is sealed");
  }
}

function certifiedRecordsKey(status, revoked) {
  if (!status.records_cert) {
    throw new Error("Aktenschlüssel noch nicht zertifiziert: nichts wird damit verschlüsselt. " +
      "Administration: chatserver keys certify-records --records-pk " + status.records_pk +
      ", dann chatserver keys install-records-cert DATEI / records key not certified yet: " +
      "nothing is sealed to it. Administrator: run chatserver keys certify-records " +
      "--records-pk " + status.records_pk + ", then chatserver keys install-records-cert FILE");
  }
  const pk = e2e.verifyRecordsKey(status.records_pk, status.records_cert, orgPk, nowSeconds(), revoked);
  if (ownRecordsPk && e2e.b64encode(ownRecordsPk) !== e2e.b64encode(pk)) {
    throw new Error("Der Aktenschlüssel des Servers passt nicht zu Ihrem: nichts wird " +
      "verschlüsselt, Administration verständigen / the server's records key does not match " +
      "yours: nothing is sealed, tell the administrator");
  }
  return pk;
}

function refusalOf(err) {
  if (err instanceof e2e.CryptoError) {
    return "Aktenschlüssel nicht bestätigt: nichts wird verschlüsselt, Administration " +
      "verständigen / records key not verified: nothing is sealed, tell the administrator (" +
      err.code + ")";
  }
  return err.message;
}

// A colleague waiting for the records key: granted only once their certificate leads to the
// org key and their certified identity key signed the box key it is sealed to.
function pendingItem(p, revoked) {
  let who = null, why = "";
  try {
    who = e2e.verifyBoxKey(p.certificate, p.box_pk, p.box_sig, orgPk, nowSeconds(), revoked);
  } catch (err) { why = err.code || "error"; }
  if (!who) {
    return el("li", "Nicht freigegeben, Schlüssel nicht bestätigt / not granted, key not " +
      "verified: " + p.pseudonym + " (" + why + ")", "refused");
  }
  const li = el("li", "Zugang erbeten von / access requested by " + who.pseudonym +
    " · Fingerabdruck / fingerprint " + e2e.fingerprint(who.identityKey) + " ");
  const b = el("button", "Freigeben / Grant");
  b.type = "button";
  b.addEventListener("click", async () => {
    if (!recordsPk || !recordsSk) { $("status").textContent = recordsRefusal; return; }
    const sealed = e2e.seal(e2e.b64decode(p.box_pk), recordsSk);
    const ack = await socket.emitWithAck("keyring_grant", { user_id: p.user_id, box_pk: p.box_pk, sealed: e2e.b64encode(sealed), epoch: recordsEpoch });
    if (ack.error) { $("status").textContent = refusal(ack, "grant"); return; }
    li.remove();
  });
  li.appendChild(b);
  return li;
}

let registered = false;
async function keyring() {
  if (!registered) {
    await socket.emitWithAck("keyring_register", { box_pk: e2e.b64encode(box.publicKey),
      box_sig: e2e.b64encode(e2e.signBoxKey(identity.secretKey, box.publicKey)), certificate });
    registered = true;
  }
  const mine = e2e.b64encode(box.publicKey);
  let status = await socket.emitWithAck("keyring", { box_pk: mine });
  if (!status.records_pk) {
    // The first console makes the team's records key; the organisation certifies its public
    // half (offline, or at once in demo mode) before anything is sealed to it.
    const pair = e2e.boxKeyPair();
    const sealed = e2e.seal(box.publicKey, pair.secretKey);
    await socket.emitWithAck("keyring_init", { records_pk: e2e.b64encode(pair.publicKey), sealed: e2e.b64encode(sealed), box_pk: mine });
    status = await socket.emitWithAck("keyring", { box_pk: mine });
  }
  recordsSk = ownRecordsPk = null;
  if (status.me && status.me.sealed) {
    try {
      recordsSk = e2e.openSealed(box.secretKey, box.publicKey, e2e.b64decode(status.me.sealed));
      ownRecordsPk = window.nacl.scalarMult.base(recordsSk);
    } catch { recordsSk = null; }
  }
  let revoked = null;
  recordsPk = null;
  try {
    if (!orgPk) throw new Error("Kein Organisationsschlüssel konfiguriert: nichts wird verschlüsselt / no organisation key configured: nothing is sealed");
    revoked = await revokedKeys();
    recordsPk = certifiedRecordsKey(status, revoked);
    recordsRefusal = "";
  } catch (err) {
    recordsRefusal = refusalOf(err);
  }
  const said = recordsSk ? "Aktenschlüssel entsperrt / records key unlocked"
    : "Warte auf Freigabe durch jemanden aus dem Team / waiting for a colleague to grant access";
  $("keyring").textContent = recordsRefusal ? said + " – " + recordsRefusal : said;
  const pending = $("pending");
  pending.replaceChildren();
  if (recordsSk && recordsPk) for (const p of status.pending) pending.appendChild(pendingItem(p, revoked));
  // -- records-key epochs (rotation.js) --
  recordsEpoch = status.epoch;
  teamKeys = epochKeys(status, recordsSk);
  if (teamKeys.length) await sealEpochsToRecovery(socket, status, teamKeys, orgPk, revoked, nowSeconds());
  setUpRotation({ socket, status, epochKeyList: teamKeys, orgPk, revoked, now: nowSeconds(),
    confirm: confirmFirst, onRotated: keyring });
  // -- end of records-key epochs --
}

// Records, notes, drops and answers are padded before they are boxed or sealed, so that their
// stored length tells only a bucket (e2e.pad); those kept before padding open all the same.
function secretbox(obj, key) {
  const nonce = window.nacl.randomBytes(24);
  return e2e.b64encode(e2e.concat(nonce, window.nacl.secretbox(e2e.pad(e2e.utf8(JSON.stringify(obj))), nonce, key)));
}

function unbox(text, key) {
  const raw = e2e.b64decode(text);
  const plain = window.nacl.secretbox.open(raw.subarray(24), raw.subarray(0, 24), key);
  if (!plain) throw new Error("record does not open");
  return JSON.parse(e2e.fromUtf8(e2e.unpad(plain)));
}

// Records need a grant of the records key, and deleting or restoring one being its owner or an
// administrator; the server decides and says why it refused, shown in the records view.
function refused(ack) {
  $("records-status").textContent = refusal(ack, "records");
}
const day = (t) => new Date(t * 1000).toLocaleString("de-DE");

let openRecordState = null;
async function openRecord(recordId, exporting) {
  if (!recordsSk) {
    // Said where the counsellor looks: beside the chat and in the records view.
    $("records-status").textContent = $("status").textContent = ERRORS.no_grant;
    return null;
  }
  const ack = await socket.emitWithAck("record_open", { record_id: recordId, export: exporting });
  if (ack.error) { refused(ack); return null; }
  const { record } = ack;
  const key = openTeamSealed(teamKeys, e2e.b64decode(record.sealed_key));
  const body = unbox(record.body, key);
  const notes = record.notes.map((n) => unbox(n.body, key));
  const said = ([who, line]) => `${who === "me" ? "Beratung" : "Ratsuchende Person"}: ${line}`;
  // Later lines (continuity): each entry sealed to the records key on its own; a heading for
  // each day something was added.
  let shownDay = "";
  const later = (record.entries || []).flatMap((item) => {
    const date = new Date(item.created * 1000).toLocaleDateString("de-DE");
    const heading = date === shownDay ? [] : [`– später / later, ${date} –`];
    shownDay = date;
    try {
      const entry = JSON.parse(e2e.fromUtf8(e2e.unpad(openTeamSealed(teamKeys, e2e.b64decode(item.body)))));
      return [...heading, ...entry.lines.map(said)];
    } catch { return [...heading, "– Eintrag nicht lesbar / entry unreadable –"]; }
  });
  const text = [`Fallakte / case record ${record.record_id}`,
    `Einwilligung / consent ${body.consent_version} · ${body.entry}`, "",
    ...body.transcript.map(said), ...later,
    "", ...notes.map((n) => `Notiz / note: ${n.body}`)].join("\n");
  openRecordState = { id: record.record_id, key };
  const view = $("record-view");
  view.textContent = text;
  view.hidden = false;
  $("record-actions").hidden = false;
  view.focus();
  return text;
}

async function loadRecords() {
  const ack = await socket.emitWithAck("records", {});
  const list = $("records");
  list.replaceChildren();
  if (ack.error) { refused(ack); return; }
  $("records-status").textContent = "";
  $("count-records").replaceChildren(badge(ack.items.length));
  for (const item of ack.items) {
    const li = el("li", day(item.created) + (me && item.counsellor_id === me.id ? " · meine / mine " : " "));
    const b = el("button", "Öffnen / Open");
    b.type = "button";
    b.addEventListener("click", () => openRecord(item.record_id, false));
    li.appendChild(b);
    list.appendChild(li);
  }
}

// Records deleted by their owner or an administrator, restorable until purged.
async function loadDeleted() {
  const ack = await socket.emitWithAck("records_deleted", {});
  const list = $("records-deleted");
  list.replaceChildren();
  if (ack.error) { refused(ack); return; }
  if (!ack.items.length) list.appendChild(el("li", "Keine / none"));
  for (const item of ack.items) {
    const li = el("li", `${day(item.created)} · gelöscht / deleted ${day(item.deleted_at)} · endgültig / for good ${day(item.purge_at)} `);
    const b = el("button", "Wiederherstellen / Restore");
    b.type = "button";
    b.addEventListener("click", async () => {
      const done = await socket.emitWithAck("record_restore", { record_id: item.record_id });
      if (done.error) { refused(done); return; }
      li.remove();
      await loadRecords();
      $("records-status").textContent = "Akte wiederhergestellt / record restored";
    });
    li.appendChild(b);
    list.appendChild(li);
  }
}

// An answer to a drop: sealed to the visitor's reply key, signed by this counsellor's certified
// identity key for the drop's lookup value (e2e.dropAnswerBytes); the widget shows no other.
function signDropAnswer(lookup, sealed) {
  const sig = window.nacl.sign.detached(e2e.dropAnswerBytes(lookup, sealed), identity.secretKey);
  return { sealed: e2e.b64encode(sealed), certificate, sig: e2e.b64encode(sig) };
}

// Anonymous messages are threads: rounds of the visitor's message and its answer, oldest first.
// The visitor's messages open with the records key; each answer with the team's copy of it
// (sealed to the records key beside the visitor's; answers from before threads have none).
let openDrop = null;
async function loadDrops() {
  await keyring();
  if (!recordsSk) return;
  const listed = await socket.emitWithAck("drops", {});
  if (listed.error) { $("status").textContent = refusal(listed, "drops"); return; }
  const { items } = listed;
  const list = $("drops");
  list.replaceChildren();
  for (const item of items) {
    const rounds = item.rounds || 1;
    const li = el("li", day(item.created) + " · " + rounds + (rounds === 1 ? " Nachricht / message" : " Nachrichten / messages") +
      (item.awaiting ? " · wartet auf Antwort / awaiting an answer " : item.answered ? " ✓ " : " "));
    const b = el("button", "Lesen / Read");
    b.type = "button";
    b.addEventListener("click", () => openThread(item.drop_id));
    li.appendChild(b);
    list.appendChild(li);
  }
}

const openTeamCopy = (team) => JSON.parse(e2e.fromUtf8(e2e.unpad(openTeamSealed(teamKeys, e2e.b64decode(team))))).body;

async function openThread(dropId) {
  const opened = await socket.emitWithAck("drop_open", { drop_id: dropId });
  if (opened.error) { $("status").textContent = refusal(opened, "drops"); return; }
  const { drop } = opened;
  const lines = [];
  // Answerable: left under a lookup value, which every sealed message itself names together
  // with its place in the thread (so that the server can neither put one visitor's question
  // under another's code nor reorder a thread), and not yet answered.
  let bound = Boolean(drop.lookup);
  for (const r of drop.rounds || [drop]) {
    const message = unbox(r.body, openTeamSealed(teamKeys, e2e.b64decode(r.sealed_key)));
    bound = bound && message.lookup === drop.lookup && (message.round || 1) === (r.round || 1);
    lines.push(day(r.created) + " Besuch / visitor: " + String(message.body));
    if (!r.answer) continue;
    let said = "(nur für den Besuch lesbar / readable by the visitor only)";
    try { if (r.team) said = String(openTeamCopy(r.team)); } catch { said = "(nicht lesbar / unreadable)"; }
    lines.push(day(r.answered_at || r.created) + " " + (r.answer.certificate ? r.answer.certificate.pseudonym : "Beratung / counsellor") + ": " + said);
  }
  openDrop = bound && !drop.answered ? drop : null;
  lines.push(drop.answered ? "Bereits beantwortet / already answered"
    : bound ? "" : "Kann nicht beantwortet werden (alte oder nicht zugeordnete Nachricht) / " +
      "cannot be answered (an old message, or one not bound to its code)");
  $("drop-text").textContent = lines.join("\n\n").trim();
  $("drop-send").disabled = !openDrop;
  $("drop-view").hidden = false;
  $("drop-text").focus();
}

async function loadKeys() {
  ({ identity, box } = await unlockKeys({ csrf, user: root.dataset.user, login: root.dataset.login }));
  $("add-passkey").hidden = !window.PublicKeyCredential;
}

// On every (re)connect, and when a chat's numbering went astray: where everything stands.
let synchronising = false;
async function synchronise() {
  if (synchronising) return;
  synchronising = true;
  try {
    const snap = await call(socket, "sync", {});
    $("duty").disabled = false;
    me = snap.me;
    if (onDuty && !snap.on_duty) {
      showDuty(false, "Nicht mehr im Dienst: zu lange ohne Verbindung / off duty: away too long");
    } else showDuty(snap.on_duty);
    renderQueue(snap.queue);
    renderRoster(snap.roster);
    // Chats that ended, went to a colleague or back to the queue while this page was away
    // are no longer ours.
    const held = new Set(snap.chats.map((info) => info.chat_id));
    for (const id of [...chats.keys()]) if (!held.has(id)) drop(id);
    if (restoring) {
      const saved = await restoring;
      restoring = null;
      for (const [id, state] of saved) {
        if (!state || state.user !== me.id) { await reload.wipe(); reload = null; break; }
        if (held.has(id)) restore(chat(id), state);
        else await reload.remove(id);
      }
      // After a wipe (a record that did not open, another account's): keep what comes now.
      if (!reload || reload.wiped) reload = await openReloadState().catch(() => null);
    }
    for (const info of snap.chats) adopt(info, false);
    if (!chats.has(current) && chats.size) select(chats.keys().next().value);
    await keyring();
  } catch {
    // Not connected any more: the next connect synchronises again.
  } finally {
    synchronising = false;
  }
}

async function start() {
  reload = await openReloadState().catch(() => null);
  restoring = reload ? reload.load().catch(() => new Map()) : null;
  await loadKeys();
  const { token, certificate: cert } = await post("/console/api/socket-token", { identity_pk: e2e.b64encode(identity.publicKey) });
  certificate = cert;
  $("identity").textContent = "Identitätsschlüssel / identity key: " + e2e.b64encode(identity.publicKey) +
    " · Fingerabdruck / fingerprint " + e2e.fingerprint(identity.publicKey) +
    (cert ? "" : " – noch nicht zertifiziert / not certified yet (chatserver keys certify, chatserver user certify)");
  socket = window.io("/counsellor", { auth: { token }, transports: ["websocket"] });
  socket.on("connect", synchronise);
  socket.on("disconnect", () => {
    for (const c of chats.values()) { c.outbox.offline(); c.inbox.offline(); }
  });
  socket.on("queue", ({ items }) => renderQueue(items));
  socket.on("roster", ({ items }) => renderRoster(items));
  socket.on("msg", (msg) => chat(msg.chat_id).inbox.receive(msg));
  socket.on("delivered", ({ chat_id, upto, lost }) => {
    if (!chats.has(chat_id)) return;
    chats.get(chat_id).outbox.delivered(upto, lost || []);
    receipt(chats.get(chat_id), upto, lost || []);
  });
  socket.on("assigned", ({ chat: info, from, note }) => {
    adopt(info);
    add(info.chat_id, "info", "Übernommen von / taken over from " + from);
    if (note && recordsSk) {
      try {
        add(info.chat_id, "info", "Notiz / note: " + e2e.fromUtf8(e2e.unpad(openTeamSealed(teamKeys, e2e.b64decode(note)))));
      } catch { add(info.chat_id, "info", "Notiz nicht lesbar / note unreadable"); }
    }
  });
  socket.on("unassigned", ({ chat_id }) => drop(chat_id));
  socket.on("off_duty", ({ reason }) => showDuty(false, reason === "signed_out"
    ? "Nicht mehr im Dienst: abgemeldet / off duty: signed out"
    : "Nicht mehr im Dienst: zu lange ohne Verbindung / off duty: away too long"));
  socket.on("ended", ({ chat_id }) => { add(chat_id, "info", "Beendet / ended"); drop(chat_id); });
  // How many threads await an answer: a count the server pushes on connect and on change.
  socket.on("drops_waiting", ({ count }) => {
    $("drops-waiting").textContent = count ? count + (count === 1 ? " Nachricht wartet / message awaiting an answer" : " Nachrichten warten / messages awaiting an answer")
      : "Keine Nachricht wartet / no message awaiting an answer";
    $("count-drops").replaceChildren(...(count ? [badge(count)] : []));
  });
  socket.on("presence", ({ chat_id, present }) => add(chat_id, "info", present ? "Ratsuchende Person wieder da / back" : "Ratsuchende Person weg / away"));
  socket.on("connect_error", () => { $("status").textContent = "Keine Verbindung / not connected"; });
  await loadCanned();
}

$("add-passkey").addEventListener("click", async () => {
  try {
    await addPasskey({ csrf, identity, box });
    $("status").textContent = "Passkey hinzugefügt / passkey added";
  } catch (err) { $("status").textContent = err.message; }
});
$("canned-new").addEventListener("submit", async (e) => {
  e.preventDefault();
  const title = $("canned-title").value.trim(), body = $("canned-body").value.trim();
  if (!title || !body) return;
  const saved = cannedEditing
    ? await cannedRequest("PUT", cannedEditing, { title, body }, "Textbaustein geändert / canned reply changed")
    : await cannedRequest("POST", "", { title, body }, "Textbaustein angelegt / canned reply added");
  if (!saved) return;
  cannedEditing = "";
  $("canned-title").value = ""; $("canned-body").value = "";
  $("canned-save").textContent = "Anlegen / Add";
});
$("duty").addEventListener("click", async () => {
  const ack = await socket.emitWithAck("duty", { on: !onDuty });
  if (ack.error) { $("status").textContent = refusal(ack, "duty"); return; }
  showDuty(ack.on_duty, ack.on_duty ? "Im Dienst / on duty" : "Nicht im Dienst / off duty");
});
// A canned reply by keyboard: "/" in the empty message field goes to the list, the arrow keys
// put each reply into the field, Enter or Escape goes back to it (to edit, then send).
$("canned").addEventListener("change", (e) => { if (e.target.value) $("text").value = e.target.value; });
$("canned").addEventListener("keydown", (e) => {
  if (e.key !== "Enter" && e.key !== "Escape") return;
  e.preventDefault();
  $("canned").value = "";
  $("text").focus();
});
$("text").addEventListener("keydown", (e) => {
  if (e.key === "/" && !$("text").value && !$("canned").disabled) { e.preventDefault(); $("canned").focus(); }
});
$("compose").addEventListener("submit", async (e) => {
  e.preventDefault();
  const c = chats.get(current);
  const text = $("text").value.trim();
  if (!c || !c.session || !c.session.established || c.newcomer || !text) return;
  $("text").value = "";
  sendPayload(c, { t: "text", body: text }, text);
});
$("consent").addEventListener("click", async () => {
  const c = chats.get(current);
  if (c && c.session && c.session.established && !c.newcomer) sendPayload(c, { t: "consent_request", version: consentVersion });
});
$("transfer").addEventListener("click", async () => {
  const to = $("transfer-to").value;
  if (!current || !to) return;
  // The note is sealed to the team's records key: only colleagues with a grant can read it.
  // To no other key: without a verified one the note stays here, unsent.
  const text = $("transfer-note").value.trim();
  if (text && !recordsPk) {
    $("status").textContent = recordsRefusal + " – Übergabe ohne Notiz möglich / transfer without a note possible";
    return;
  }
  const note = text ? e2e.b64encode(e2e.seal(recordsPk, e2e.pad(e2e.utf8(text)))) : "";
  $("transfer-note").value = "";
  const ack = await socket.emitWithAck("transfer", { chat_id: current, to, note });
  if (ack.error) $("status").textContent = refusal(ack, "transfer");
});
$("handoff").addEventListener("click", async () => {
  const c = chats.get(current);
  if (c && c.record) { $("status").textContent = "Dieser Chat hat schon eine Akte: was geschrieben wird, kommt dazu / this chat has a record already: what is written is added to it"; return; }
  if (!c || !c.consent) { $("status").textContent = "Keine Einwilligung / no consent"; return; }
  if (!recordsPk) { $("status").textContent = "Akte nicht gespeichert / record not saved: " + recordsRefusal; return; }
  const recordKey = window.nacl.randomBytes(32);
  const upto = c.log.length;
  const record = { consent_version: c.consent.version, consent_at: c.consent.at, entry: c.info ? c.info.entry : "",
    transcript: c.log.filter((item) => item.cls !== "info").map((item) => [item.cls, item.text]) };
  const reader = c.consent.reader || "";
  const copy = forReader(reader, c.log.slice(0, upto).filter((item) => item.cls !== "info").map((item) => [item.cls, item.text, item.at || 0]));
  const ack = await socket.emitWithAck("handoff", { chat_id: c.id, consent_version: c.consent.version,
    sealed_key: e2e.b64encode(e2e.seal(recordsPk, recordKey)), body: secretbox(record, recordKey),
    ...(reader ? { reader_pk: reader, reader_body: copy } : {}) });
  recordKey.fill(0);
  $("status").textContent = ack.error ? refusal(ack, "handoff") : "Akte gespeichert / record saved";
  if (ack.error || !chats.has(c.id)) return;
  // What is said from now on goes into the same record (the snapshot holds what came before).
  c.record = { id: ack.record_id, upto, reader };
  persist(c);
  if (c.id === current) select(c.id);
  appendLater(c);
});
$("chat-record-open").addEventListener("click", () => {
  const c = chats.get(current);
  if (!c || !c.record) return;
  // The record opens in the records view; without the records key nothing opens and the
  // reason is said beside the chat, which stays in sight.
  if (recordsSk) showView("records");
  openRecord(c.record.id, false);
});
$("newcomer-accept").addEventListener("click", () => decideNewcomer(true));
$("newcomer-refuse").addEventListener("click", () => decideNewcomer(false));
$("drops-refresh").addEventListener("click", loadDrops);
$("drop-send").addEventListener("click", async () => {
  const text = $("drop-answer").value.trim();
  if (!openDrop || !text) return;
  if (!certificate) {
    $("status").textContent = "Ohne Zertifikat keine Antwort: der Besucher könnte sie nicht prüfen / " +
      "no answer without a certificate: the visitor could not verify it";
    return;
  }
  // The answer names its round, inside what is signed: the server cannot move it to another.
  const plain = e2e.pad(e2e.utf8(JSON.stringify({ t: "answer", body: text, round: openDrop.round || 1 })));
  const answer = signDropAnswer(e2e.b64decode(openDrop.lookup), e2e.seal(e2e.b64decode(openDrop.reply_pk), plain));
  // The team's copy, only to the certified records key (never on the server's word).
  if (recordsPk) answer.team = e2e.b64encode(e2e.seal(recordsPk, plain));
  const ack = await socket.emitWithAck("drop_answer", { drop_id: openDrop.drop_id, answer });
  $("status").textContent = ack.error ? refusal(ack, "drop") : "Antwort gespeichert / answer saved";
  if (ack.error) return;
  $("drop-answer").value = "";
  const thread = openDrop.drop_id;
  openDrop = null;
  $("drop-send").disabled = true;
  await openThread(thread);
});
$("note-add").addEventListener("click", async () => {
  const text = $("note").value.trim();
  if (!openRecordState || !text) return;
  const ack = await socket.emitWithAck("record_note", { record_id: openRecordState.id, body: secretbox({ t: "note", body: text }, openRecordState.key) });
  if (ack.error) { refused(ack); return; }
  $("note").value = "";
  await openRecord(openRecordState.id, false);
});
$("record-export").addEventListener("click", async () => {
  if (!openRecordState) return;
  const text = await openRecord(openRecordState.id, true);
  if (text === null) return;
  const link = el("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  link.download = `fallakte-${openRecordState.id}.txt`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
});
$("record-delete").addEventListener("click", async () => {
  if (!openRecordState) return;
  const recordId = openRecordState.id;
  const sure = await confirmFirst("Akte löschen? / Delete this record?",
    "Die Akte verschwindet für alle und wird nach Ablauf der Frist endgültig gelöscht; bis dahin " +
    "kann sie wiederhergestellt werden. / The record disappears for everyone and is deleted for " +
    "good when the period ends; until then it can be restored.",
    "Ja, Akte löschen / Yes, delete the record");
  if (!sure || !openRecordState || openRecordState.id !== recordId) return;
  const ack = await socket.emitWithAck("record_delete", { record_id: recordId });
  if (ack.error) { refused(ack); return; }
  openRecordState = null;
  $("record-view").hidden = true;
  $("record-actions").hidden = true;
  await loadRecords();
  $("records-status").textContent = "Akte gelöscht, wiederherstellbar bis / record deleted, can be restored until " + day(ack.purge_at);
});
$("records-refresh").addEventListener("click", async () => {
  await keyring();
  // Asked even without the key here: the server's answer says why there is nothing to see.
  await loadRecords();
});
$("records-deleted-refresh").addEventListener("click", loadDeleted);
if ($("topics")) $("topics").addEventListener("change", (e) => {
  if (!current) return;
  const { topics } = chat(current);
  if (e.target.checked) topics.add(e.target.value); else topics.delete(e.target.value);
});
// Topics go with the end and are counted there, once; none ticked ends the chat all the same.
$("end").addEventListener("click", async () => {
  if (!current) return;
  const id = current;
  const sure = await confirmFirst("Chat beenden? / End this chat?",
    "Die Person sieht, dass der Chat beendet ist; sein Verlauf wird hier gelöscht. / The visitor " +
    "sees that the chat has ended; its history is deleted here.",
    "Ja, Chat beenden / Yes, end the chat");
  if (!sure || !chats.has(id)) return;
  const topics = [...chat(id).topics];
  $("end-status").textContent = "";
  const ack = await socket.emitWithAck("end", { chat_id: id, topics });
  if (ack.error === "invalid" && topics.length) {
    // The topic list changed since this page loaded: the chat ends, its topics go uncounted.
    const again = await socket.emitWithAck("end", { chat_id: id });
    $("end-status").textContent = again.error ? refusal(again, "end")
      : "Beendet; Themen nicht gezählt, die Liste hat sich geändert: bitte Seite neu laden / ended; topics not counted, the list changed: please reload";
  } else if (ack.error) $("end-status").textContent = refusal(ack, "end");
});

// What is known about the selected chat, in the context panel beside it.
function describe(c) {
  const info = c.info || {};
  $("context-entry").textContent = (info.urgent ? "Dringend / urgent · " : "") + entryLabel(info.entry) +
    (info.lang ? " · " + langLabel(info.lang) : "");
  $("context-waited").textContent = c.requested === undefined ? "–"
    : clock(c.waited) + " (Anfrage / requested " + hhmm(c.requested) + ")";
  $("context-consent").textContent = c.consent
    ? "erteilt / given (" + hhmm(c.consent.at) + ")" : "nicht erteilt / not given";
}

// The views (chats, records, messages, canned replies) follow the WAI-ARIA tabs pattern: one
// tab stop, arrow keys, Home and End move and activate, each tab shows its own panel.
const VIEWS = ["chats", "records", "drops", "canned"];
function showView(name, focus = false) {
  for (const view of VIEWS) {
    const tab = $("view-" + view + "-tab"), on = view === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $("view-" + view).hidden = !on;
    if (on && focus) tab.focus();
  }
}
for (const view of VIEWS) $("view-" + view + "-tab").addEventListener("click", () => showView(view));

// Arrow keys within a tablist: the next or previous tab, wrapping; Home and End.
function arrows(list, keys, activate) {
  list.addEventListener("keydown", (e) => {
    const tabs = [...list.querySelectorAll('[role="tab"]')];
    const at = tabs.indexOf(document.activeElement);
    if (at < 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    let to = null;
    if (keys.next.includes(e.key)) to = (at + 1) % tabs.length;
    else if (keys.previous.includes(e.key)) to = (at - 1 + tabs.length) % tabs.length;
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = tabs.length - 1;
    if (to === null) return;
    e.preventDefault();
    const id = tabs[to].id;
    activate(tabs[to]);
    // Activating may have drawn the tabs anew: focus the one now in the page.
    $(id).focus();
  });
}
arrows($("view-tabs"), { next: ["ArrowRight"], previous: ["ArrowLeft"] },
  (tab) => showView(tab.id.replace(/^view-|-tab$/g, "")));
arrows($("tabs"), { next: ["ArrowDown", "ArrowRight"], previous: ["ArrowUp", "ArrowLeft"] },
  (tab) => select(tab.dataset.chat));

// The next (step 1) or previous (-1) open chat, wrapping, shown with its tab focused.
function cycle(step) {
  const ids = [...chats.keys()];
  if (!ids.length) return;
  const at = ids.indexOf(current);
  select(ids[(at + step + ids.length) % ids.length]);
  showView("chats");
  inSight();
  const tab = $("tab-" + current);
  if (tab) tab.focus({ preventScroll: true });
}

function focusComposer() {
  if (!chats.has(current)) return;
  showView("chats");
  $("text").focus();
  inSight();
}

// On a narrow screen (200 % zoom) the page scrolls: bring the composer, and the log above
// it, into sight; on a wide one everything is in sight already and nothing moves.
function inSight() {
  $("compose").scrollIntoView({ block: "nearest" });
}

// Shortcuts (listed in the "Tastenkürzel / Shortcuts" dialog). Plain letters act only while no
// field has the focus, so typing never triggers them; with Alt they act everywhere.
const typing = (node) => node instanceof HTMLElement &&
  (node.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(node.tagName));
const acceptFirst = () => { const first = $("queue").querySelector("button"); if (first) first.click(); };
const PLAIN = {
  a: acceptFirst,
  n: () => cycle(1), p: () => cycle(-1), c: focusComposer,
  "?": () => $("shortcuts").showModal(),
};
const WITH_ALT = {
  KeyA: acceptFirst, ArrowDown: () => cycle(1), ArrowUp: () => cycle(-1), KeyC: focusComposer,
  KeyE: () => { if (chats.has(current)) { showView("chats"); $("end").click(); } },
};
document.addEventListener("keydown", (e) => {
  if (e.defaultPrevented || e.isComposing || root.inert || document.querySelector("dialog[open]")) return;
  let act = null;
  // Alt+Down still opens a dropdown list where one has the focus.
  if (e.altKey && !e.ctrlKey && !e.metaKey) {
    act = e.target instanceof HTMLSelectElement && e.key.startsWith("Arrow") ? null : WITH_ALT[e.code] || WITH_ALT[e.key];
  }
  else if (!e.altKey && !e.ctrlKey && !e.metaKey && !typing(e.target)) act = PLAIN[e.key];
  if (!act) return;
  e.preventDefault();
  act();
});
// Ctrl+Enter (Cmd+Enter) sends from the message field; Enter alone starts a new line.
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.isComposing) {
    e.preventDefault();
    $("compose").requestSubmit();
  }
});
$("shortcuts-open").addEventListener("click", () => $("shortcuts").showModal());
$("shortcuts-close").addEventListener("click", () => $("shortcuts").close());

for (const form of document.querySelectorAll('form[action="/console/logout"]')) {
  form.addEventListener("submit", async (e) => {
    // The unlocked keys and the chats kept for a reload go before the page does.
    e.preventDefault();
    await forgetKeys();
    const store = reload;
    reload = null;
    await (store ? store.wipe() : wipeReloadState());
    form.submit();
  });
}

// One console per browser profile at a time: a second tab would answer the same chats with the
// same sessions (the visitor would see repeated counters) and write the same reload state.
const TAB = "erstkontakt-console";
const ELSEWHERE = {
  open: "Die Konsole ist schon in einem anderen Tab oder Fenster geöffnet. / The console is already open in another tab or window.",
  taken: "Die Konsole wurde in einem anderen Tab oder Fenster übernommen; hier ruht sie. / The console was taken over in another tab or window; this one rests.",
};

function elsewhere(why) {
  $("elsewhere-text").textContent = ELSEWHERE[why];
  $("elsewhere").hidden = false;
  $("console").inert = true;
}

// Taken over by another tab: this page stops at once; what it kept for a reload stays for
// the tab that took over (it reads the same store).
function lostTab() {
  reload = null;
  if (socket) { socket.removeAllListeners(); socket.disconnect(); }
  for (const c of chats.values()) { c.outbox.close(); c.inbox.close(); }
  elsewhere("taken");
}

$("elsewhere-take").addEventListener("click", async () => {
  await holdTab(TAB, { steal: true, onLost: lostTab });
  // Start afresh here: the page that had it has stopped.
  window.location.reload();
});

holdTab(TAB, { onLost: lostTab }).then((mine) => (mine ? start() : elsewhere("open")));
