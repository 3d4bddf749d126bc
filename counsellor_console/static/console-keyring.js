// The keys this console holds: the counsellor's identity and box keys (unlocked by keys.js with
// a passkey or the key passphrase, never sent; docs/protocol.md, "Key custody"), their
// certificate, and the team's records key with its certificate checked against the org key.
// Kept in this page's memory only; no key is ever made for this page only.
import { e2e } from "./console-e2e.js";
import { $, confirmFirst, csrf, el, post, root } from "./console-page.js";
import { refusal, t } from "./console-i18n.js";
import { Refused, ask, must, socket } from "./console-socket.js";
import { addPasskey, unlockKeys } from "./keys.js";
import { epochKeys, sealEpochsToRecovery, setUpRotation } from "./rotation.js";

// Identity (Ed25519) and box (X25519) keys, as keys.js unlocked them.
export let identity = null, box = null, certificate = null;
export let recordsPk = null, recordsSk = null;
// Every epoch of the records key this console opens, newest first, and the newest's number
// (rotation.js; docs/protocol.md, "Rotation of the records key").
export let teamKeys = [], recordsEpoch = 0;

// The records key is sealed to only once the organisation's certificate of it checks out
// against the pinned org key and, where this console holds the records secret, matches it
// (docs/protocol.md, "Keys bound to identities"); recordsPk is that key, or null with
// recordsRefusal saying why. Opening uses the public half of my own secret.
const orgPk = root.dataset.orgPk;
export let recordsRefusal = t("keys.not_checked");
export let ownRecordsPk = null;
const nowSeconds = () => Math.floor(Date.now() / 1000);

// The organisation's revoked keys (counsellors' identity keys, retired records keys).
async function revokedKeys() {
  try {
    const res = await fetch("/api/revocations.json", { cache: "no-store" });
    return e2e.verifyRevocationList(await res.json(), orgPk, nowSeconds());
  } catch {
    throw new Error(t("keys.no_revocations"));
  }
}

function certifiedRecordsKey(status, revoked) {
  if (!status.records_cert) {
    throw new Error(t("keys.uncertified", { pk: status.records_pk }));
  }
  const pk = e2e.verifyRecordsKey(status.records_pk, status.records_cert, orgPk, nowSeconds(), revoked);
  if (ownRecordsPk && e2e.b64encode(ownRecordsPk) !== e2e.b64encode(pk)) {
    throw new Error(t("keys.mismatch"));
  }
  return pk;
}

function refusalOf(err) {
  if (err instanceof e2e.CryptoError) {
    return t("keys.not_verified", { code: err.code });
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
    return el("li", t("keys.not_granted", { who: p.pseudonym, code: why }), "refused");
  }
  const li = el("li", t("keys.requested", { who: who.pseudonym, fingerprint: e2e.fingerprint(who.identityKey) }) + " ");
  const b = el("button", t("keys.grant"));
  b.type = "button";
  b.addEventListener("click", async () => {
    if (!recordsPk || !recordsSk) { $("status").textContent = recordsRefusal; return; }
    const sealed = e2e.seal(e2e.b64decode(p.box_pk), recordsSk);
    const ack = await ask("keyring_grant", { user_id: p.user_id, box_pk: p.box_pk, sealed: e2e.b64encode(sealed), epoch: recordsEpoch });
    if (ack.error) { $("status").textContent = refusal(ack, "grant"); return; }
    li.remove();
  });
  li.appendChild(b);
  return li;
}

// Where the records key stands for this console; a refusal on the way is said in its place.
export async function keyring() {
  try {
    await readKeyring();
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    $("keyring").textContent = refusal(err.ack, "keyring");
  }
}

// The server keeps this browser's box key only once the identity key that signed it is
// certified and not revoked (docs/protocol.md, "Keys bound to identities"); until then the
// keyring is still read (the first console makes the records key with its own box key), and
// why nobody can grant to this browser yet is said beside the records key's state.
let registered = false, registerRefusal = "";
async function readKeyring() {
  if (!registered) {
    const reg = await ask("keyring_register", { box_pk: e2e.b64encode(box.publicKey),
      box_sig: e2e.b64encode(e2e.signBoxKey(identity.secretKey, box.publicKey)), certificate });
    registered = !reg.error;
    registerRefusal = reg.error ? refusal(reg, "register") : "";
  }
  const mine = e2e.b64encode(box.publicKey);
  let status = await must("keyring", { box_pk: mine });
  if (!status.records_pk) {
    // The first console makes the team's records key; the organisation certifies its public
    // half (offline, or at once in demo mode) before anything is sealed to it.
    const pair = e2e.boxKeyPair();
    const sealed = e2e.seal(box.publicKey, pair.secretKey);
    // Refused as a conflict when another console made it first: what counts is what is there now.
    const made = await ask("keyring_init", { records_pk: e2e.b64encode(pair.publicKey), sealed: e2e.b64encode(sealed), box_pk: mine });
    if (made.error && made.error !== "conflict") throw new Refused(made);
    status = await must("keyring", { box_pk: mine });
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
    if (!orgPk) throw new Error(t("keys.no_org_key"));
    revoked = await revokedKeys();
    recordsPk = certifiedRecordsKey(status, revoked);
    recordsRefusal = "";
  } catch (err) {
    recordsRefusal = refusalOf(err);
  }
  const said = recordsSk ? t("keys.unlocked") : t("keys.waiting");
  const why = [recordsRefusal, recordsSk ? "" : registerRefusal].filter(Boolean).join(" – ");
  $("keyring").textContent = why ? said + " – " + why : said;
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

// The socket token, and this identity key's certificate by the organisation (null before it
// is certified).
export async function certify() {
  const answer = await post("/console/api/socket-token", { identity_pk: e2e.b64encode(identity.publicKey) });
  certificate = answer.certificate;
  return answer;
}

export async function loadKeys() {
  ({ identity, box } = await unlockKeys({ csrf, user: root.dataset.user, login: root.dataset.login }));
  $("add-passkey").hidden = !window.PublicKeyCredential;
}

$("add-passkey").addEventListener("click", async () => {
  try {
    await addPasskey({ csrf, identity, box });
    $("status").textContent = t("keys.passkey_added");
  } catch (err) { $("status").textContent = err.message; }
});
