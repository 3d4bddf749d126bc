// The open chats: each one's E2E session, log, composer and delivery. Each chat's envelopes go
// through relay.js (docs/protocol.md, "Delivery"). A reload keeps each chat (its E2E session,
// lines and positions) in reloadstate.js (docs/protocol.md, "Reload state"), written after
// every line shown and every send, restored by main after the first sync.
import { e2e } from "./console-e2e.js";
import { $, badge, clock, confirmFirst, consentVersion, el, hhmm } from "./console-page.js";
import { STATUS, entryLabel, errorText, langLabel, refusal, t } from "./console-i18n.js";
import { ask, socket } from "./console-socket.js";
import { call, createInbox, createOutbox } from "./relay.js";
import { me, reload } from "./console-state.js";
import { certificate, identity, recordsPk, recordsRefusal, recordsSk } from "./console-keyring.js";
import { retitle } from "./console-queue.js";
import { countRecords, secretbox, openRecord } from "./console-records.js";
import { inSight, showView } from "./console-views.js";
import { notices } from "./console-notify.js";

export const chats = new Map();
export let current = "";

// What a stalled outbox asks for: where everything stands (console.js synchronises).
let stalled = () => {};
export function whenStalled(then) { stalled = then; }

export function chat(id) {
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
      onStall: () => stalled(),
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
export function restore(c, saved) {
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
    // A known delivery state is said anew in the page's language (the switch reloads the
    // page); only a mark without one is kept as it was written.
    const said = Object.hasOwn(STATUS, line.state) ? STATUS[line.state] : String(line.mark || "");
    const item = { cls: String(line.cls), text: String(line.text), mark: said,
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
export function receipt(c, upto, lost) {
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

const chatLabel = (c) => (c.info ? entryLabel(c.info.entry) + " · " + langLabel(c.info.lang) : "Chat");

// The open chats are a vertical tablist (arrow keys move between them, one tab stop), all
// controlling the one chat pane.
export function renderTabs() {
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

export function select(id) {
  current = id;
  const c = chat(id);
  c.unread = 0;
  quietly(c);
  following = true;
  follow();
  $("safety").textContent = c.session && c.session.established ? t("chat.safety", { number: c.session.safetyNumber() }) : "";
  $("safety-how").hidden = !$("safety").textContent;
  describe(c);
  $("chat-record").hidden = !c.record;
  $("chat-record-text").textContent = !c.record ? "" : c.info && c.info.entry === "return"
    ? t("chat.return_record") : t("chat.record_filed");
  $("newcomer").hidden = !c.newcomer;
  $("newcomer-safety").textContent = c.newcomer ? c.newcomer.session.safetyNumber() : "";
  // Nothing more goes out in this chat until the counsellor has decided.
  for (const id of ["text", "canned"]) $(id).disabled = Boolean(c.newcomer);
  $("compose").querySelector("button").disabled = Boolean(c.newcomer);
  for (const box of document.querySelectorAll("#topics input")) box.checked = c.topics.has(box.value);
  renderTabs();
}

export function add(id, cls, text) {
  const c = chat(id);
  const item = { cls, text, mark: "", at: Date.now() };
  c.log.push(item);
  if (id === current) { $("log").appendChild(entry(item)); follow(); } else c.unread += 1;
  // The open chat's log is a live region itself; a line in another chat is announced by
  // where it arrived, never by its text (that stays in its own chat).
  if (cls === "them" && id !== current) {
    $("announce").textContent = t("chat.new_in", { chat: chatLabel(c), unread: c.unread });
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
      add(c.id, "info", t("chat.not_appended", { why: recordsSk ? recordsRefusal : errorText("no_grant") }));
      return;
    }
    if (c.record.reader === undefined) {
      // A codename return: the record knows the visitor's reader key, if they have one.
      const asked = await ask("record_reader", { chat_id: c.id });
      c.record.reader = asked.error ? "" : readerKey(asked.reader_pk);
    }
    const body = e2e.b64encode(e2e.seal(recordsPk, e2e.pad(e2e.utf8(JSON.stringify({ t: "lines", lines })))));
    const ack = await ask("record_append", { chat_id: c.id, body, reader_body: forReader(c.record.reader, lines) });
    if (ack.error) {
      c.appendRefused = true;
      add(c.id, "info", t("chat.not_appended", { why: refusal(ack, "records") }));
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
export async function present(c, seq, ct) {
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
        add(c.id, "info", t("chat.newcomer"));
        // Focus goes to the warning itself, never to an answer: an Enter meant for the
        // composer must not connect anyone.
        if (c.id === current) { select(c.id); $("newcomer").focus(); } else renderTabs();
        await persist(c);
        return true;
      }
      connectSession(c, next, e2e.b64encode(got.reply), previous ? t("chat.renewed") : t("chat.connected"));
      await c.saving;
      return true;
    }
    if (!c.session) throw new e2e.HandshakeError("no session");
    const got = c.session.receive(frame);
    if (got.payload.t === "text") add(c.id, "them", String(got.payload.body));
    else if (got.payload.t === "consent") {
      // reader: the public key of the visitor's reading code, for their own copy of the record.
      c.consent = got.payload.answer === "yes" ? { version: got.payload.version, at: Date.now(), reader: readerKey(got.payload.reader) } : null;
      add(c.id, "info", t("chat.consent_answer", { answer: ["yes", "no"].includes(got.payload.answer) ? t("consent." + got.payload.answer) : String(got.payload.answer) }));
      if (c.id === current) describe(c);
    }
    c.shown = seq;
    await persist(c);
    return true;
  } catch (err) {
    add(c.id, "info", t("chat.unreadable", { code: err.code || "error" }));
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
  if (accept) connectSession(c, session, reply, t("chat.newcomer_connected"));
  else {
    session.destroy();
    add(c.id, "info", t("chat.newcomer_refused"));
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

// Where the relay says this chat stands (sync, accept, assigned): what the widget showed of
// mine, the next seq, and where my inbox starts; then everything undelivered goes again.
export function adopt(info, focus = true) {
  const c = chat(info.chat_id);
  c.info = info;
  if (c.requested === undefined) c.requested = Date.now() - info.waiting_s * 1000;
  if (c.waited === undefined) c.waited = info.waiting_s;
  if (info.record_id && (!c.record || c.record.id !== info.record_id)) {
    // A codename return: everything said in it goes into the record. A chat that filed its
    // record before a reload knows where it stands from its reload state.
    c.record = { id: info.record_id, upto: 0 };
    if (info.entry === "return") add(c.id, "info", t("chat.return_record"));
  }
  c.inbox.start(info.acked);
  c.outbox.delivered(info.delivered.upto, info.delivered.lost || []);
  receipt(c, info.delivered.upto, info.delivered.lost || []);
  c.outbox.online(info.next_seq);
  c.inbox.online();
  if (focus) select(c.id); else renderTabs();
  appendLater(c);
}

export function drop(id) {
  const c = chats.get(id);
  if (c && c.session) c.session.destroy();
  if (c && c.newcomer) c.newcomer.session.destroy();
  if (c) { c.outbox.close(); c.inbox.close(); }
  chats.delete(id);
  if (reload) reload.remove(id).catch(() => {});
  if (current === id) current = chats.keys().next().value || "";
  if (current) select(current); else renderTabs();
}

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
    $("status").textContent = t("chat.transfer_without_note", { why: recordsRefusal });
    return;
  }
  const note = text ? e2e.b64encode(e2e.seal(recordsPk, e2e.pad(e2e.utf8(text)))) : "";
  $("transfer-note").value = "";
  const ack = await ask("transfer", { chat_id: current, to, note });
  if (ack.error) $("status").textContent = refusal(ack, "transfer");
});
$("handoff").addEventListener("click", async () => {
  const c = chats.get(current);
  if (c && c.record) { $("status").textContent = t("chat.has_record"); return; }
  if (!c || !c.consent) { $("status").textContent = t("chat.no_consent"); return; }
  if (!recordsPk) { $("status").textContent = t("chat.record_not_saved", { why: recordsRefusal }); return; }
  const recordKey = window.nacl.randomBytes(32);
  const upto = c.log.length;
  const record = { consent_version: c.consent.version, consent_at: c.consent.at, entry: c.info ? c.info.entry : "",
    transcript: c.log.filter((item) => item.cls !== "info").map((item) => [item.cls, item.text]) };
  const reader = c.consent.reader || "";
  const copy = forReader(reader, c.log.slice(0, upto).filter((item) => item.cls !== "info").map((item) => [item.cls, item.text, item.at || 0]));
  const ack = await ask("handoff", { chat_id: c.id, consent_version: c.consent.version,
    sealed_key: e2e.b64encode(e2e.seal(recordsPk, recordKey)), body: secretbox(record, recordKey),
    ...(reader ? { reader_pk: reader, reader_body: copy } : {}) });
  recordKey.fill(0);
  $("status").textContent = ack.error ? refusal(ack, "handoff") : t("chat.record_saved");
  if (!ack.error) await countRecords();
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

if ($("topics")) $("topics").addEventListener("change", (e) => {
  if (!current) return;
  const { topics } = chat(current);
  if (e.target.checked) topics.add(e.target.value); else topics.delete(e.target.value);
});
// Topics go with the end and are counted there, once; none ticked ends the chat all the same.
$("end").addEventListener("click", async () => {
  if (!current) return;
  const id = current;
  const sure = await confirmFirst(t("end.q"), t("end.text"), t("end.yes"));
  if (!sure || !chats.has(id)) return;
  const topics = [...chat(id).topics];
  $("end-status").textContent = "";
  const ack = await ask("end", { chat_id: id, topics });
  if (ack.error === "invalid" && topics.length) {
    // The topic list changed since this page loaded: the chat ends, its topics go uncounted.
    const again = await ask("end", { chat_id: id });
    $("end-status").textContent = again.error ? refusal(again, "end")
      : t("end.topics_changed");
  } else if (ack.error) $("end-status").textContent = refusal(ack, "end");
});

// What is known about the selected chat, in the context panel beside it.
function describe(c) {
  const info = c.info || {};
  $("context-entry").textContent = (info.urgent ? t("queue.urgent") + " · " : "") + entryLabel(info.entry) +
    (info.lang ? " · " + langLabel(info.lang) : "");
  $("context-waited").textContent = c.requested === undefined ? "–"
    : t("context.waited_value", { waited: clock(c.waited), at: hhmm(c.requested) });
  $("context-consent").textContent = c.consent
    ? t("context.consent_given", { at: hhmm(c.consent.at) }) : t("context.consent_not_given");
}
