// Anonymous messages (drops): threads of rounds, read with the records key and answered,
// signed by this counsellor's certified identity key.
import { e2e } from "./console-e2e.js";
import { $, day, el } from "./console-page.js";
import { refusal, t } from "./console-i18n.js";
import { ask } from "./console-socket.js";
import { certificate, identity, keyring, recordsPk, recordsSk, teamKeys } from "./console-keyring.js";
import { openTeamSealed } from "./rotation.js";
import { unbox } from "./console-records.js";

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
  const listed = await ask("drops", {});
  if (listed.error) { $("status").textContent = refusal(listed, "drops"); return; }
  const { items } = listed;
  const list = $("drops");
  list.replaceChildren();
  for (const item of items) {
    const rounds = item.rounds || 1;
    const li = el("li", day(item.created) + " · " + t(rounds === 1 ? "drops.one" : "drops.many", { n: rounds }) +
      (item.awaiting ? " · " + t("drops.awaiting") + " " : item.answered ? " ✓ " : " "));
    const b = el("button", t("drops.read"));
    b.type = "button";
    b.addEventListener("click", () => openThread(item.drop_id));
    li.appendChild(b);
    list.appendChild(li);
  }
}

const openTeamCopy = (team) => JSON.parse(e2e.fromUtf8(e2e.unpad(openTeamSealed(teamKeys, e2e.b64decode(team))))).body;

async function openThread(dropId) {
  const opened = await ask("drop_open", { drop_id: dropId });
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
    lines.push(day(r.created) + " " + t("drops.visitor", { text: String(message.body) }));
    if (!r.answer) continue;
    let said = t("drops.visitor_only");
    try { if (r.team) said = String(openTeamCopy(r.team)); } catch { said = t("drops.unreadable"); }
    lines.push(day(r.answered_at || r.created) + " " + (r.answer.certificate ? r.answer.certificate.pseudonym : t("drops.counsellor")) + ": " + said);
  }
  openDrop = bound && !drop.answered ? drop : null;
  lines.push(drop.answered ? t("drops.answered") : bound ? "" : t("drops.unanswerable"));
  $("drop-text").textContent = lines.join("\n\n").trim();
  $("drop-send").disabled = !openDrop;
  $("drop-view").hidden = false;
  $("drop-text").focus();
}

$("drops-refresh").addEventListener("click", loadDrops);
$("drop-send").addEventListener("click", async () => {
  const text = $("drop-answer").value.trim();
  if (!openDrop || !text) return;
  if (!certificate) {
    $("status").textContent = t("drops.no_certificate");
    return;
  }
  // The answer names its round, inside what is signed: the server cannot move it to another.
  const plain = e2e.pad(e2e.utf8(JSON.stringify({ t: "answer", body: text, round: openDrop.round || 1 })));
  const answer = signDropAnswer(e2e.b64decode(openDrop.lookup), e2e.seal(e2e.b64decode(openDrop.reply_pk), plain));
  // The team's copy, only to the certified records key (never on the server's word).
  if (recordsPk) answer.team = e2e.b64encode(e2e.seal(recordsPk, plain));
  const ack = await ask("drop_answer", { drop_id: openDrop.drop_id, answer });
  $("status").textContent = ack.error ? refusal(ack, "drop") : t("drops.saved");
  if (ack.error) return;
  $("drop-answer").value = "";
  const thread = openDrop.drop_id;
  openDrop = null;
  $("drop-send").disabled = true;
  await openThread(thread);
});
