// Epochs of the team's records key in the console (docs/protocol.md, "Rotation of the records
// key"): every epoch's secret opened from the newest one through the links, so records, drops
// and entries sealed to any epoch open; every epoch sealed to the certified recovery key; and,
// for an administrator holding the key, the rotation after someone leaves: a new epoch granted
// to every colleague whose certified identity signed their box key, and to nobody else.
// Text reaches the DOM only via textContent. console.js calls in at three places (keyring(),
// its opening of sealed things, the grant's epoch).
import * as core from "./e2e.js";
import * as keys from "./e2e-keys.js";
import * as counsellor from "./e2e-counsellor.js";
import * as epochs from "./e2e-epochs.js";
import { refusal, t } from "./console-i18n.js";

const e2e = { ...core, ...keys, ...counsellor, ...epochs };
const $ = (id) => document.getElementById(id);

/**
 * Every epoch's {sk, pk}, newest first, opened from the newest epoch's secret (the grant).
 * A chain that does not hold (a link swapped in the database) leaves the newest epoch alone.
 */
export function epochKeys(status, newestSk) {
  if (!newestSk) return [];
  const list = status.epochs || [];
  try {
    const secrets = e2e.openEpochs(newestSk, list.map((e) => ({
      pk: e2e.b64decode(e.public_key), link: e.link ? e2e.b64decode(e.link) : null })));
    return secrets.map((sk, i) => ({ sk, pk: e2e.b64decode(list[i].public_key) })).reverse();
  } catch {
    return [{ sk: newestSk, pk: window.nacl.scalarMult.base(newestSk) }];
  }
}

/** Open what was sealed to any epoch this console holds. */
export function openTeamSealed(epochKeyList, sealed) {
  return e2e.openSealedAny(epochKeyList, sealed);
}

/** The recovery key to seal to, if the organisation certified it; else null. */
function certifiedRecoveryKey(status, orgPk, revoked, now) {
  if (!status.recovery || !orgPk || !revoked) return null;
  try {
    return e2e.verifyRecoveryKey(status.recovery.recovery_pk, status.recovery.certificate, orgPk, now, revoked);
  } catch { return null; }
}

/**
 * Seal every epoch this console holds, and whose seal is missing or for another recovery key,
 * to the certified recovery key (never to one the organisation did not certify).
 */
export async function sealEpochsToRecovery(socket, status, epochKeyList, orgPk, revoked, now) {
  const recoveryPk = certifiedRecoveryKey(status, orgPk, revoked, now);
  if (!recoveryPk) return 0;
  const served = e2e.b64encode(recoveryPk);
  let sealed = 0;
  for (const epoch of status.epochs || []) {
    if (epoch.recovery_pk === served) continue;
    const held = epochKeyList.find((k) => e2e.b64encode(k.pk) === epoch.public_key);
    if (!held) continue;
    const ack = await socket.emitWithAck("keyring_recovery", { epoch: epoch.epoch, recovery_pk: served,
      sealed: e2e.b64encode(e2e.seal(recoveryPk, held.sk)) });
    if (ack.ok) sealed += 1;
  }
  return sealed;
}

/**
 * The rotation button (only in an administrator's page, #rotation): shown while this console
 * holds the newest epoch and a valid revocation list. confirm(title, text, yes) asks first;
 * onRotated() reloads the keyring afterwards.
 */
export function setUpRotation({ socket, status, epochKeyList, orgPk, revoked, now, confirm, onRotated }) {
  const panel = $("rotation");
  if (!panel) return;
  const ready = epochKeyList.length > 0 && revoked !== null && Boolean(orgPk);
  panel.hidden = !ready;
  const button = $("rotate");
  button.onclick = ready ? async () => {
    const ok = await confirm(t("rotation.q"), t("rotation.text"), t("rotation.yes"));
    if (!ok) return;
    button.disabled = true;
    try {
      $("rotation-status").textContent = await rotate({ socket, status, epochKeyList, orgPk, revoked, now });
      await onRotated();
    } finally { button.disabled = false; }
  } : null;
}

async function rotate({ socket, status, epochKeyList, orgPk, revoked, now }) {
  const pair = e2e.boxKeyPair();
  const grants = [], left = [];
  for (const m of status.members || []) {
    try {
      e2e.verifyBoxKey(m.certificate, m.box_pk, m.box_sig, orgPk, now, revoked);
    } catch { left.push(m.pseudonym); continue; }
    grants.push({ user_id: m.user_id, box_pk: m.box_pk,
      sealed: e2e.b64encode(e2e.seal(e2e.b64decode(m.box_pk), pair.secretKey)) });
  }
  const epoch = status.epoch + 1;
  const payload = { epoch, records_pk: e2e.b64encode(pair.publicKey),
    link: e2e.b64encode(e2e.seal(pair.publicKey, epochKeyList[0].sk)), grants };
  const recoveryPk = certifiedRecoveryKey(status, orgPk, revoked, now);
  if (recoveryPk) {
    payload.recovery = { epoch, recovery_pk: e2e.b64encode(recoveryPk),
      sealed: e2e.b64encode(e2e.seal(recoveryPk, pair.secretKey)) };
  }
  const ack = await socket.emitWithAck("keyring_rotate", payload);
  pair.secretKey.fill(0);
  if (ack.error) return t("rotation.failed", { reason: refusal(ack, "rotate") });
  const said = t("rotation.done", { epoch, fingerprint: e2e.fingerprint(pair.publicKey),
    pk: payload.records_pk, old: status.records_pk });
  return left.length ? said + " " + t("rotation.left_out", { names: left.join(", ") }) : said;
}
