// The console's key custody (docs/protocol.md, "Key custody"). A counsellor's identity seed and
// box secret are stored on the server only wrapped (XSalsa20-Poly1305) under a key made in this
// browser from what only the counsellor holds, never sent anywhere:
//  - a key passphrase they chose: scrypt (memory-hard, kdf.js), a random salt kept with the
//    wrap together with the parameters ("v": 3); wraps of before ("v": 2, PBKDF2-SHA-256,
//    600 000 rounds) still open, and once one has, the same keys are wrapped anew with scrypt
//    beside it (the old one stays: a stored wrap is never overwritten);
//  - a passkey: the WebAuthn PRF extension's output for a random salt, through HKDF-SHA-256.
// Signing in unlocks nothing. Wraps are only ever added (the server refuses to replace one): a
// wrong passphrase or passkey changes nothing. Unwrapped keys live in this page's memory, and
// for the session in IndexedDB encrypted under a non-extractable AES-GCM key (a reload or a
// second tab finds them there); sign-out, the login page and twelve hours take them away.
import * as e2e from "./e2e.js";
import { t } from "./i18n.js";
import { SALT_BYTES, SCRYPT, WeakParameters, scryptKey, scryptParams } from "./kdf.js";
import { scryptAsync } from "./noble-scrypt.js";

export const ITERATIONS = 600000;
const SESSION_DB = "erstkontakt-console-keys";
const SESSION_MS = 12 * 3600 * 1000;
const LEGACY_SALT = "erstkontakt console keys:";
const PRF_INFO = "erstkontakt console keys v2";

const $ = (id) => document.getElementById(id);
const random = (n) => crypto.getRandomValues(new Uint8Array(n));
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const b64url = (bytes) => e2e.b64encode(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

class Refused extends Error {}

function seal(obj, key) {
  const nonce = window.nacl.randomBytes(24);
  return e2e.b64encode(e2e.concat(nonce, window.nacl.secretbox(e2e.utf8(JSON.stringify(obj)), nonce, key)));
}

function open(text, key) {
  const raw = e2e.b64decode(text);
  const plain = window.nacl.secretbox.open(raw.subarray(24), raw.subarray(0, 24), key);
  if (!plain) throw new Refused("does not open");
  return JSON.parse(e2e.fromUtf8(plain));
}

async function pbkdf2(secret, salt, iterations) {
  const material = await crypto.subtle.importKey("raw", e2e.utf8(secret), "PBKDF2", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", iterations, salt }, material, 256));
}

async function hkdf(prf, salt) {
  const material = await crypto.subtle.importKey("raw", prf, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt, info: e2e.utf8(PRF_INFO) }, material, 256));
}

function pairs(keys) {
  return { identity: window.nacl.sign.keyPair.fromSeed(e2e.b64decode(keys.identity_seed)),
           box: window.nacl.box.keyPair.fromSecretKey(e2e.b64decode(keys.box_sk)) };
}

// -- the session copy --------------------------------------------------------------------

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function sessionDb() {
  const req = indexedDB.open(SESSION_DB, 1);
  req.onupgradeneeded = () => req.result.createObjectStore("keys");
  return request(req);
}

/** Take the unlocked keys off this browser (sign-out, the login page). */
export function forgetKeys() {
  return new Promise((resolve) => {
    try {
      const req = indexedDB.deleteDatabase(SESSION_DB);
      req.onsuccess = req.onerror = req.onblocked = () => resolve();
    } catch { resolve(); }
  });
}

async function keepForSession(user, keys) {
  try {
    const db = await sessionDb();
    const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    const iv = random(12);
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: e2e.utf8(user) }, key,
      e2e.utf8(JSON.stringify(keys)));
    await request(db.transaction("keys", "readwrite").objectStore("keys").put({ key, iv, ct, user, at: Date.now() }, "session"));
    db.close();
  } catch { /* no IndexedDB: a reload asks again */ }
}

async function fromSession(user) {
  try {
    const db = await sessionDb();
    const kept = await request(db.transaction("keys", "readonly").objectStore("keys").get("session"));
    db.close();
    if (!kept) return null;
    if (kept.user !== user || !(Date.now() - kept.at < SESSION_MS)) { await forgetKeys(); return null; }
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: kept.iv, additionalData: e2e.utf8(user) },
      kept.key, kept.ct);
    return JSON.parse(e2e.fromUtf8(new Uint8Array(plain)));
  } catch { return null; }
}

// -- wraps on the server -------------------------------------------------------------------

async function addWrap(csrf, blob) {
  const res = await fetch("/console/api/keys", {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ id: hex(random(16)), blob: JSON.stringify(blob) }),
  });
  if (!res.ok) throw new Refused(t("unlock.not_stored", { status: res.status }));
}

async function passphraseWrap(keys, passphrase) {
  const salt = random(SALT_BYTES);
  const key = await scryptKey(scryptAsync, passphrase, salt, SCRYPT);
  const blob = { v: 3, kdf: "scrypt", ...SCRYPT, salt: e2e.b64encode(salt), box: seal(keys, key) };
  key.fill(0);
  return blob;
}

// The keys the passphrase opens, scrypt wraps first; `upgrade` when only a PBKDF2 wrap of
// before opened and no scrypt wrap exists yet (the caller adds one beside it).
async function openPassphrase(wraps, passphrase) {
  let weak = 0;
  const strong = [];
  for (const w of wraps) {
    try {
      if (w.kdf === "scrypt" && w.v === 3) { scryptParams(w); strong.push(w); }
      // Fewer rounds than ours is no wrap this console made: refused, not tried.
      else if (w.kdf === "pbkdf2-sha256" && w.v === 2 && w.iterations >= ITERATIONS && w.iterations <= 100 * ITERATIONS) strong.push(w);
      else weak += 1;
    } catch (err) {
      if (!(err instanceof WeakParameters)) throw err;
      weak += 1;
    }
  }
  strong.sort((a, b) => (b.kdf === "scrypt") - (a.kdf === "scrypt"));
  for (const w of strong) {
    const salt = e2e.b64decode(w.salt);
    const key = w.kdf === "scrypt" ? await scryptKey(scryptAsync, passphrase, salt, w)
      : await pbkdf2(passphrase, salt, w.iterations);
    try {
      return { keys: open(w.box, key), upgrade: w.kdf !== "scrypt" && !strong.some((s) => s.kdf === "scrypt") };
    } catch { /* another wrap, or the wrong passphrase */ } finally { key.fill(0); }
  }
  if (weak) throw new Refused(t("unlock.weak"));
  throw new Refused(t("unlock.wrong_passphrase"));
}

// A passkey on this device that can give a PRF output (null if this browser or authenticator
// cannot): the output for a fresh salt, and the wrap parameters.
async function newPasskey() {
  if (!window.PublicKeyCredential) return null;
  const cred = await navigator.credentials.create({ publicKey: {
    rp: { name: "Erstkontakt" }, challenge: random(32),
    user: { id: random(16), name: "erstkontakt-console", displayName: "Erstkontakt" },
    pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -257 }],
    authenticatorSelection: { residentKey: "preferred", userVerification: "required" },
    extensions: { prf: {} } } });
  const ext = cred.getClientExtensionResults();
  if (!ext.prf || !ext.prf.enabled) return null;
  const salt = random(32);
  const prf = await passkeyOutput([{ cred: b64url(new Uint8Array(cred.rawId)), salt: e2e.b64encode(salt) }]);
  return prf ? { cred: b64url(new Uint8Array(cred.rawId)), salt, key: prf.key } : null;
}

// Ask the authenticator for the PRF output of one of `wraps` (by credential); the key it makes.
async function passkeyOutput(wraps) {
  const byCred = {};
  for (const w of wraps) byCred[w.cred] = { first: e2e.b64decode(w.salt) };
  const got = await navigator.credentials.get({ publicKey: {
    challenge: random(32), userVerification: "required",
    allowCredentials: wraps.map((w) => ({ type: "public-key", id: e2e.b64decode(w.cred.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((w.cred.length + 3) % 4)) })),
    extensions: { prf: { evalByCredential: byCred } } } });
  const ext = got.getClientExtensionResults();
  const out = ext.prf && ext.prf.results && ext.prf.results.first;
  if (!out) return null;
  const cred = b64url(new Uint8Array(got.rawId));
  const wrap = wraps.find((w) => w.cred === cred);
  if (!wrap) return null;
  const raw = new Uint8Array(out);
  const key = await hkdf(raw, e2e.b64decode(wrap.salt));
  raw.fill(0);
  return { wrap, key };
}

// -- the dialog ----------------------------------------------------------------------------

function say(text) { $("unlock-status").textContent = text; }

function fresh() {
  return { identity_seed: e2e.b64encode(window.nacl.randomBytes(32)),
           box_sk: e2e.b64encode(window.nacl.box.keyPair().secretKey) };
}

// The counsellor's choice, as a promise of the keys; every failure leaves the wraps as they were.
function dialog({ csrf, login, wraps, legacy }) {
  const withPasskey = wraps.filter((w) => w.kdf === "webauthn-prf");
  const withPassphrase = wraps.filter((w) => w.kdf === "pbkdf2-sha256" || w.kdf === "scrypt");
  $("unlock").hidden = false;
  $("unlock-setup").hidden = wraps.length > 0;
  $("unlock-open").hidden = wraps.length === 0;
  $("unlock-passkey").hidden = withPasskey.length === 0;
  $("unlock-passphrase-form").hidden = withPassphrase.length === 0;
  $("unlock-legacy").hidden = !legacy;
  $("unlock-legacy-password").required = Boolean(legacy) && wraps.length === 0;
  return new Promise((resolve) => {
    const attempt = (work) => async (event) => {
      if (event) event.preventDefault();
      say(t("wait"));
      try { resolve(await work()); } catch (err) {
        say(err instanceof Refused ? err.message
          : t("unlock.failed", { code: err.name || "error" }));
      }
    };
    $("unlock-passphrase-form").onsubmit = attempt(async () => {
      const passphrase = $("unlock-passphrase").value;
      const { keys, upgrade } = await openPassphrase(withPassphrase, passphrase);
      // Only after it opened, and beside the old wrap: a failure here leaves that one working.
      if (upgrade) { try { await addWrap(csrf, await passphraseWrap(keys, passphrase)); } catch { /* next time */ } }
      return keys;
    });
    $("unlock-passkey").onclick = attempt(async () => {
      const got = await passkeyOutput(withPasskey);
      if (!got) throw new Refused(t("unlock.passkey_no_key"));
      try { return open(got.wrap.box, got.key); } finally { got.key.fill(0); }
    });
    $("unlock-setup").onsubmit = attempt(async () => {
      const passphrase = $("unlock-new-passphrase").value;
      if (passphrase.length < 12) throw new Refused(t("unlock.too_short"));
      if (passphrase !== $("unlock-new-again").value) throw new Refused(t("unlock.differ"));
      let keys = fresh();
      if (legacy) {
        // The keys of a console from before: opened once with the sign-in password of then.
        const old = await pbkdf2($("unlock-legacy-password").value, e2e.utf8(LEGACY_SALT + login), ITERATIONS);
        try { keys = open(legacy, old); } catch {
          throw new Refused(t("unlock.wrong_legacy"));
        } finally { old.fill(0); }
        keys = { identity_seed: keys.identity_seed, box_sk: keys.box_sk };
      }
      let passkey = null;
      if ($("unlock-with-passkey").checked) {
        passkey = await newPasskey();
        if (!passkey) throw new Refused(t("unlock.no_prf"));
      }
      await addWrap(csrf, await passphraseWrap(keys, passphrase));
      if (passkey) {
        await addWrap(csrf, { v: 2, kdf: "webauthn-prf", cred: passkey.cred, salt: e2e.b64encode(passkey.salt), box: seal(keys, passkey.key) });
        passkey.key.fill(0);
      }
      return keys;
    });
  });
}

/**
 * The counsellor's identity and box key pairs: from this session's copy, else unlocked by the
 * counsellor in the dialog (made and wrapped at the very first sign-in).
 */
export async function unlockKeys({ csrf, user, login }) {
  let keys = await fromSession(user);
  if (!keys) {
    const res = await fetch("/console/api/keys");
    if (!res.ok) throw new Error(String(res.status));
    const { wraps, legacy } = await res.json();
    const parsed = [];
    for (const w of wraps) { try { parsed.push(JSON.parse(w.blob)); } catch { /* not ours */ } }
    keys = await dialog({ csrf, login, wraps: parsed.filter((w) => w && (w.v === 2 || w.v === 3)), legacy });
    for (const id of ["unlock-passphrase", "unlock-new-passphrase", "unlock-new-again", "unlock-legacy-password"]) $(id).value = "";
    $("unlock").hidden = true;
    await keepForSession(user, keys);
  }
  return pairs(keys);
}

/** After unlocking with the passphrase: a passkey of this device opens the same keys too. */
export async function addPasskey({ csrf, identity, box }) {
  const passkey = await newPasskey();
  if (!passkey) throw new Refused(t("unlock.no_prf_passkey"));
  const keys = { identity_seed: e2e.b64encode(identity.secretKey.slice(0, 32)), box_sk: e2e.b64encode(box.secretKey) };
  await addWrap(csrf, { v: 2, kdf: "webauthn-prf", cred: passkey.cred, salt: e2e.b64encode(passkey.salt), box: seal(keys, passkey.key) });
  passkey.key.fill(0);
}

/**
 * A passkey just registered for signing in opens this session's keys too (its PRF output for
 * a fresh salt wraps them): false if the keys are not unlocked in this browser or the passkey
 * gives no PRF output. Nothing of it leaves the browser but the wrap.
 */
export async function wrapWithPasskey({ csrf, user, cred }) {
  const keys = await fromSession(user);
  if (!keys) return false;
  const salt = random(32);
  const prf = await passkeyOutput([{ cred, salt: e2e.b64encode(salt) }]);
  if (!prf) return false;
  try {
    await addWrap(csrf, { v: 2, kdf: "webauthn-prf", cred, salt: e2e.b64encode(salt), box: seal(keys, prf.key) });
  } finally { prf.key.fill(0); }
  return true;
}
