// Case records: listed, opened, noted, exported, deleted and restored; each sealed to the
// team's records key and opened only in this page.
import { e2e } from "./console-e2e.js";
import { $, badge, confirmFirst, day, el } from "./console-page.js";
import { errorText, locale, refusal, t } from "./console-i18n.js";
import { ask } from "./console-socket.js";
import { me } from "./console-state.js";
import { keyring, recordsSk, teamKeys } from "./console-keyring.js";
import { openTeamSealed } from "./rotation.js";

// Records, notes, drops and answers are padded before they are boxed or sealed, so that their
// stored length tells only a bucket (e2e.pad); those kept before padding open all the same.
export function secretbox(obj, key) {
  const nonce = window.nacl.randomBytes(24);
  return e2e.b64encode(e2e.concat(nonce, window.nacl.secretbox(e2e.pad(e2e.utf8(JSON.stringify(obj))), nonce, key)));
}

export function unbox(text, key) {
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

let openRecordState = null;
export async function openRecord(recordId, exporting) {
  if (!recordsSk) {
    // Said where the counsellor looks: beside the chat and in the records view.
    $("records-status").textContent = $("status").textContent = errorText("no_grant");
    return null;
  }
  const ack = await ask("record_open", { record_id: recordId, export: exporting });
  if (ack.error) { refused(ack); return null; }
  const { record } = ack;
  const key = openTeamSealed(teamKeys, e2e.b64decode(record.sealed_key));
  const body = unbox(record.body, key);
  const notes = record.notes.map((n) => unbox(n.body, key));
  const said = ([who, line]) => t(who === "me" ? "records.counsellor_said" : "records.visitor_said", { text: line });
  // Later lines (continuity): each entry sealed to the records key on its own; a heading for
  // each day something was added.
  let shownDay = "";
  const later = (record.entries || []).flatMap((item) => {
    const date = new Date(item.created * 1000).toLocaleDateString(locale);
    const heading = date === shownDay ? [] : [t("records.later", { date })];
    shownDay = date;
    try {
      const entry = JSON.parse(e2e.fromUtf8(e2e.unpad(openTeamSealed(teamKeys, e2e.b64decode(item.body)))));
      return [...heading, ...entry.lines.map(said)];
    } catch { return [...heading, t("records.entry_unreadable")]; }
  });
  const text = [t("records.heading", { id: record.record_id }),
    t("records.consent", { version: body.consent_version, entry: body.entry }), "",
    ...body.transcript.map(said), ...later,
    "", ...notes.map((n) => t("records.note_line", { text: n.body }))].join("\n");
  openRecordState = { id: record.record_id, key };
  const view = $("record-view");
  view.textContent = text;
  view.hidden = false;
  $("record-actions").hidden = false;
  view.focus();
  return text;
}

// The records view's count, from the start: how many records the team keeps (a number that
// opens and names no record, so unlike the listing it is not in the audit trail).
export async function countRecords() {
  if (!recordsSk) return;
  const ack = await ask("records_count", {});
  if (!ack.error) $("count-records").replaceChildren(badge(ack.count));
}

async function loadRecords() {
  const ack = await ask("records", {});
  const list = $("records");
  list.replaceChildren();
  if (ack.error) { refused(ack); return; }
  $("records-status").textContent = "";
  $("count-records").replaceChildren(badge(ack.items.length));
  for (const item of ack.items) {
    const li = el("li", day(item.created) + (me && item.counsellor_id === me.id ? " · " + t("records.mine") + " " : " "));
    const b = el("button", t("records.open"));
    b.type = "button";
    b.addEventListener("click", () => openRecord(item.record_id, false));
    li.appendChild(b);
    list.appendChild(li);
  }
}

// Records deleted by their owner or an administrator, restorable until purged.
async function loadDeleted() {
  const ack = await ask("records_deleted", {});
  const list = $("records-deleted");
  list.replaceChildren();
  if (ack.error) { refused(ack); return; }
  if (!ack.items.length) list.appendChild(el("li", t("records.none")));
  for (const item of ack.items) {
    const li = el("li", t("records.deleted_item", { created: day(item.created), deleted: day(item.deleted_at), purge: day(item.purge_at) }) + " ");
    const b = el("button", t("records.restore"));
    b.type = "button";
    b.addEventListener("click", async () => {
      const done = await ask("record_restore", { record_id: item.record_id });
      if (done.error) { refused(done); return; }
      li.remove();
      await loadRecords();
      $("records-status").textContent = t("records.restored");
    });
    li.appendChild(b);
    list.appendChild(li);
  }
}

$("note-add").addEventListener("click", async () => {
  const text = $("note").value.trim();
  if (!openRecordState || !text) return;
  const ack = await ask("record_note", { record_id: openRecordState.id, body: secretbox({ t: "note", body: text }, openRecordState.key) });
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
  const sure = await confirmFirst(t("records.delete_q"), t("records.delete_text"), t("records.delete_yes"));
  if (!sure || !openRecordState || openRecordState.id !== recordId) return;
  const ack = await ask("record_delete", { record_id: recordId });
  if (ack.error) { refused(ack); return; }
  openRecordState = null;
  $("record-view").hidden = true;
  $("record-actions").hidden = true;
  await loadRecords();
  $("records-status").textContent = t("records.deleted_until", { until: day(ack.purge_at) });
});
$("records-refresh").addEventListener("click", async () => {
  await keyring();
  // Asked even without the key here: the server's answer says why there is nothing to see.
  await loadRecords();
});
$("records-deleted-refresh").addEventListener("click", loadDeleted);
