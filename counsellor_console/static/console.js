// The counsellor console, wired: it holds this browser's one console tab, unlocks the keys,
// connects the socket and hands what the server says to the module that owns it (queue,
// chats, records, messages, canned replies). Text reaches the DOM only via textContent.
import { $, badge } from "./console-page.js";
import { t } from "./console-i18n.js";
import { connect, socket, sync } from "./console-socket.js";
import { me, reload, setMe, setReload } from "./console-state.js";
import { certify, identity, keyring, loadKeys, recordsSk, teamKeys } from "./console-keyring.js";
import { openTeamSealed } from "./rotation.js";
import { add, adopt, chat, chats, current, drop, receipt, restore, select, whenStalled } from "./console-chats.js";
import { onDuty, renderQueue, renderRoster, showDuty } from "./console-queue.js";
import { loadCanned } from "./console-canned.js";
import { countRecords } from "./console-records.js";
import { e2e } from "./console-e2e.js";
import { forgetKeys } from "./keys.js";
import { holdTab, openReloadState, wipeReloadState } from "./reloadstate.js";
import "./console-shortcuts.js";
import "./console-messages.js";

// What the reload store held when this page loaded, until the first sync says which of those
// chats are still ours.
let restoring = null;

// On every (re)connect, and when a chat's numbering went astray: where everything stands.
let synchronising = false;
async function synchronise() {
  if (synchronising) return;
  synchronising = true;
  try {
    const snap = await sync();
    $("duty").disabled = false;
    setMe(snap.me);
    if (onDuty && !snap.on_duty) {
      showDuty(false, t("duty.away"));
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
        if (!state || state.user !== me.id) { await reload.wipe(); setReload(null); break; }
        if (held.has(id)) restore(chat(id), state);
        else await reload.remove(id);
      }
      // After a wipe (a record that did not open, another account's): keep what comes now.
      if (!reload || reload.wiped) setReload(await openReloadState().catch(() => null));
    }
    for (const info of snap.chats) adopt(info, false);
    if (!chats.has(current) && chats.size) select(chats.keys().next().value);
    await keyring();
    await countRecords();
  } catch {
    // Not connected any more: the next connect synchronises again.
  } finally {
    synchronising = false;
  }
}

whenStalled(synchronise);

async function start() {
  setReload(await openReloadState().catch(() => null));
  restoring = reload ? reload.load().catch(() => new Map()) : null;
  await loadKeys();
  const { token, certificate: cert } = await certify();
  $("identity").textContent = t("keys.identity", { key: e2e.b64encode(identity.publicKey), fingerprint: e2e.fingerprint(identity.publicKey) }) +
    (cert ? "" : " – " + t("keys.identity_uncertified"));
  connect(token);
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
    add(info.chat_id, "info", t("chat.taken_over", { from }));
    if (note && recordsSk) {
      try {
        add(info.chat_id, "info", t("records.note_line", { text: e2e.fromUtf8(e2e.unpad(openTeamSealed(teamKeys, e2e.b64decode(note)))) }));
      } catch { add(info.chat_id, "info", t("chat.note_unreadable")); }
    }
  });
  socket.on("unassigned", ({ chat_id }) => drop(chat_id));
  socket.on("off_duty", ({ reason }) => showDuty(false, reason === "signed_out"
    ? t("duty.signed_out") : t("duty.away")));
  socket.on("ended", ({ chat_id }) => { add(chat_id, "info", t("chat.ended")); drop(chat_id); });
  // How many threads await an answer: a count the server pushes on connect and on change.
  socket.on("drops_waiting", ({ count }) => {
    $("drops-waiting").textContent = count ? t(count === 1 ? "drops.waiting_one" : "drops.waiting_many", { n: count })
      : t("drops.waiting_none");
    $("count-drops").replaceChildren(...(count ? [badge(count)] : []));
  });
  socket.on("presence", ({ chat_id, present }) => add(chat_id, "info", present ? t("chat.back") : t("chat.away")));
  socket.on("connect_error", () => { $("status").textContent = t("status.offline"); });
  await loadCanned();
}

for (const form of document.querySelectorAll('form[action="/console/logout"]')) {
  form.addEventListener("submit", async (e) => {
    // The unlocked keys and the chats kept for a reload go before the page does.
    e.preventDefault();
    await forgetKeys();
    const store = reload;
    setReload(null);
    await (store ? store.wipe() : wipeReloadState());
    form.submit();
  });
}

// One console per browser profile at a time: a second tab would answer the same chats with the
// same sessions (the visitor would see repeated counters) and write the same reload state.
const TAB = "erstkontakt-console";

function elsewhere(why) {
  $("elsewhere-text").textContent = t("elsewhere." + why);
  $("elsewhere").hidden = false;
  $("console").inert = true;
}

// Taken over by another tab: this page stops at once; what it kept for a reload stays for
// the tab that took over (it reads the same store).
function lostTab() {
  setReload(null);
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
