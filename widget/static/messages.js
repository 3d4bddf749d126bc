// The widget's messages half, loaded on demand (widget.js lazy("messages"); docs/benchmarks.md,
// "Widget weight"): the office hours while nobody is on duty or they are closed, leaving an
// anonymous message, reading a thread's answers and writing again (docs/protocol.md, "Message
// drop", "Threads"). `page` is what it uses of the chat page (widget.js `page`); e2e-keys.js
// comes through it.
import * as e2e from "./e2e.js";

// What this module says, in both languages (drops.json): fetched with its SRI hash on first use.
let catalog = null;
async function texts(page) {
  catalog = catalog || await (await fetch(page.data.dropsSrc, { integrity: page.data.dropsSri })).json();
  return catalog[page.lang];
}

function say(c, key, vars = {}) {
  let s = c[key] || key;
  for (const [k, v] of Object.entries(vars)) s = s.replace("{" + k + "}", String(v));
  return s;
}

// Office hours from the server's structured answer (docs/operations.md, "Office hours"), worded
// here: weekdays and times by Intl in the page's language, in the organisation's time zone.
function weekly(windows, lang) {
  const name = new Intl.DateTimeFormat(lang, { weekday: "short", timeZone: "UTC" });
  const clock = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit", timeZone: "UTC" });
  const day = (d) => name.format(Date.UTC(1970, 0, 5 + d));  // 5 January 1970 was a Monday
  const time = (m) => m < 1440 ? clock.format(Date.UTC(1970, 0, 5, 0, m)) : "24:00";
  const spans = [0, 1, 2, 3, 4, 5, 6].map((d) => windows.filter((w) => w.day === d).map((w) => time(w.start) + "–" + time(w.end)).join(", "));
  const out = [];
  for (let d = 0; d < 7; d++) {
    if (!spans[d]) continue;
    let last = d;
    while (last < 6 && spans[last + 1] === spans[d]) last++;
    out.push((last > d ? day(d) + "–" + day(last) : day(d)) + " " + spans[d]);
    d = last;
  }
  return out.join("; ");
}

function replyTime(c, days) {
  return days === 1 ? c.reply_one : say(c, "reply_days", { days });
}

/** The offline part of the welcome view: whether the hours say closed and when they open,
 * the hours, and the message form with its reply time, or why no message can be left. */
export async function showOffline(page) {
  const { $ } = page, a = page.avail, c = await texts(page);
  // On duty outside the hours: the chat is offered, and the visitor told why.
  if (a.available && a.open === false) $("open").textContent = c.open_extra;
  if (a.available && !$("drop-text").value && !$("drop-codename").textContent) { $("offline").hidden = true; return; }
  for (const el of $("offline").querySelectorAll("[data-o]")) el.textContent = c[el.dataset.o];
  let now = a.available ? "" : c.offline;
  if (!a.available && a.open === false) {
    const when = new Intl.DateTimeFormat(page.lang, Object.assign({ timeZone: a.tz, weekday: "long", hour: "numeric", minute: "2-digit" },
      a.next_open * 1000 - Date.now() > 6 * 864e5 ? { day: "numeric", month: "long" } : {}));
    now = a.next_open ? say(c, "closed_next", { when: when.format(a.next_open * 1000) }) : c.closed;
  }
  $("closed").textContent = now;
  $("hours").textContent = say(c, "hours", { hours: a.open === null || a.open === undefined ? a.office_hours[page.lang] : weekly(a.hours, page.lang) });
  $("drop-reply").textContent = replyTime(c, a.reply_days);
  // Before the team's records key exists and is certified nothing can be sealed: say so first.
  const ready = !["no_key", "uncertified"].includes(a.drops);
  $("drop-form").hidden = !ready;
  if (!ready) $("drop-status").textContent = c.drop_not_ready;
  else if ($("drop-status").textContent === c.drop_not_ready) $("drop-status").textContent = "";
  $("offline").hidden = false;
}

// The records key a drop may be sealed to: the served one, only if the organisation's
// certificate of exactly that key checks out against the pinned org key and the revocation
// list (docs/protocol.md, "Keys bound to identities"). Otherwise null, and the visitor is told.
async function verifiedRecordsKey(page, c, status) {
  const { cfg } = page;
  const res = await fetch("/api/records-key", { cache: "no-store" });
  if (!res.ok) { status.textContent = c.drop_not_ready; return null; }
  try {
    const served = await res.json();
    const now = Math.floor(Date.now() / 1000);
    const revoked = e2e.verifyRevocationList(await page.revocations(), cfg.orgPk, now);
    return (await page.keys()).verifyRecordsKey(served.records_pk, served.certificate, cfg.orgPk, now, revoked);
  } catch {
    status.textContent = c.drop_key_unverified;
    return null;
  }
}

// A drop's code is made here and never sent: the server gets the lookup value derived from it,
// the answer comes sealed to the reply key derived from it, signed by a certified counsellor
// (docs/protocol.md, "Message drop"). Writing again after an answer (`again`: the code and the
// round) goes under the same code as the thread's next round.
export async function leaveDrop(page, again) {
  const { $ } = page, c = await texts(page);
  const field = again ? again.field : $("drop-text"), status = again ? again.status : $("drop-status");
  const text = field.value.trim();
  if (!text) return;
  const recordsPk = await verifiedRecordsKey(page, c, status);
  if (!recordsPk) return;
  const sealing = await page.keys();
  page.connect(async () => {
    const start = await page.paid("drop_start", { lang: page.lang }, again && again.send.id);
    if (start.error) { status.textContent = page.refusal(start); return; }
    const round = again ? again.round : 1, code = again ? again.code : sealing.generateDropCode();
    const keys = sealing.dropKeys(code), lookup = e2e.b64encode(keys.lookup);
    const recordKey = window.nacl.randomBytes(32), nonce = window.nacl.randomBytes(24);
    const boxed = window.nacl.secretbox(sealing.pad(e2e.utf8(JSON.stringify({ t: "drop", body: text, lookup, round }))), nonce, recordKey);
    const ack = await page.socket.emitWithAck("drop", { lookup, round,
      sealed_key: e2e.b64encode(sealing.seal(recordsPk, recordKey)),
      body: e2e.b64encode(e2e.concat(nonce, boxed)), reply_pk: e2e.b64encode(keys.replyPk) });
    recordKey.fill(0);
    keys.replySk.fill(0);
    if (ack.error) { status.textContent = page.refusal(ack); return; }
    field.value = "";
    // The first time the reply time stands under the field already; after writing again here.
    const days = page.avail && page.avail.reply_days;
    status.textContent = again ? c.drop_more_done + (days ? " " + replyTime(c, days) : "") : c.drop_done;
    if (again) again.form.hidden = true;
    else { $("drop-codename").textContent = code; $("drop-copy").hidden = false; }
    page.wipe();
  });
}

/** The thread of the drop of `codename`, every answer shown; false if the server knows no
 * such drop. After an answer the visitor can write again under the same code. */
export async function checkDrop(page, codename) {
  const { $, cfg } = page;
  const sealing = await page.keys(), keys = sealing.dropKeys(codename);
  const ack = await page.paid("drop_check", { lookup: e2e.b64encode(keys.lookup) });
  if (ack.error) return false;
  const c = await texts(page), list = document.createElement("ol");
  const rounds = ack.rounds || [{ answered: ack.answered, answer: ack.answer }];
  let revoked = null, confirmed = false;
  for (const [i, r] of rounds.entries()) {
    let shown = r.answered ? c.drop_unconfirmed : c.drop_waiting;
    confirmed = false;
    // Nothing of an answer shows unless a counsellor the organisation certified signed it for
    // this drop, and for this round of it; a forged "answer from the programme" would be a lure.
    if (r.answered) try {
      const now = Date.now() / 1000 | 0, org = cfg.orgPk;
      revoked = revoked || e2e.verifyRevocationList(await page.revocations(), org, now);
      const by = sealing.verifyDropAnswer(r.answer, keys.lookup, org, now, revoked);
      const got = e2e.decodePayload(sealing.unpad(sealing.openSealed(keys.replySk, keys.replyPk, e2e.b64decode(r.answer.sealed))));
      if ((got.round || 1) === i + 1) {
        shown = say(c, "drop_answer", { name: by.pseudonym }) + " " + got.body;
        confirmed = true;
      }
    } catch { /* shown stays the refusal */ }
    const li = document.createElement("li");
    li.textContent = shown;
    list.append(li);
  }
  keys.replySk.fill(0);
  $("drop-answer").replaceChildren(list);
  const old = $("drop-again");
  if (old) old.remove();
  // Only after an answer the organisation vouches for: a forged one starts no conversation.
  if (confirmed) $("drop-answer").after(writeAgain(page, c, codename, rounds.length + 1));
  return true;
}

// "Write again": a field under the answers, sent as the thread's next round.
function writeAgain(page, c, code, round) {
  const form = document.createElement("div"), label = document.createElement("label");
  const field = document.createElement("textarea"), send = document.createElement("button");
  const status = document.createElement("p");
  status.setAttribute("role", "status");
  field.id = "drop-more";
  field.maxLength = 4000;
  field.rows = 3;
  label.htmlFor = field.id;
  label.textContent = c.drop_more_label;
  send.type = "button";
  send.textContent = c.drop_more_send;
  send.id = "drop-more-send";
  const again = { code, round, field, status, form, send };
  send.addEventListener("click", () => leaveDrop(page, again));
  form.append(label, field, send);
  const box = document.createElement("div");
  box.id = "drop-again";
  box.append(form, status);
  return box;
}
