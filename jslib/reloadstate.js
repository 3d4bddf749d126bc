// What a reload keeps (docs/protocol.md, "Reload state"): per chat one record, AES-256-GCM
// under a non-extractable WebCrypto key kept in IndexedDB (a structured clone of the CryptoKey:
// script on this origin can use it, nobody can read it out). The chat id is the associated
// data, so a record cannot be moved to another chat.
//
// The console keeps its records in the same IndexedDB database (they outlive the tab until
// sign-out or the idle limit); the widget keeps them in sessionStorage (`tabScoped`), so that
// closing the tab takes the records with it and the key left behind opens nothing; the widget
// deletes that key at its next load. Everything goes at once on wipe(), after `idleMs` without
// a write, or when a record does not open; one chat's record with remove().
export const IDLE_MS = 12 * 3600 * 1000;
export const CONSOLE_DB = "erstkontakt-console-reload";

const RECORDS = "records";
const KEYS = "keys";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDb(name) {
  const req = indexedDB.open(name, 1);
  req.onupgradeneeded = () => {
    req.result.createObjectStore(RECORDS);
    req.result.createObjectStore(KEYS);
  };
  return request(req);
}

function deleteDb(name) {
  return new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  });
}

function store(db, name, mode) { return db.transaction(name, mode).objectStore(name); }

function b64(bytes) { return btoa(String.fromCharCode(...new Uint8Array(bytes))); }
function unb64(text) { return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0)); }

// Records in the database itself: {iv, ct, at} by chat id.
function databaseRecords(getDb) {
  return {
    async all() {
      const os = store(getDb(), RECORDS, "readonly");
      const [ids, records] = await Promise.all([request(os.getAllKeys()), request(os.getAll())]);
      return ids.map((id, i) => [id, records[i]]);
    },
    put(id, record) { return request(store(getDb(), RECORDS, "readwrite").put(record, id)); },
    delete(id) { return request(store(getDb(), RECORDS, "readwrite").delete(id)); },
    clear() { /* they go with the database */ },
  };
}

// Records in Web Storage under "<db>:<chat id>", iv and ct as base64.
function storageRecords(storage, prefix) {
  const ids = () => Object.keys(storage).filter((k) => k.startsWith(prefix));
  return {
    async all() {
      return ids().map((k) => {
        let r = null;
        try {
          const raw = JSON.parse(storage.getItem(k));
          r = { iv: unb64(raw.iv), ct: unb64(raw.ct), at: raw.at };
        } catch { /* a record that does not parse does not open either */ }
        return [k.slice(prefix.length), r];
      });
    },
    async put(id, record) {
      storage.setItem(prefix + id, JSON.stringify({ iv: b64(record.iv), ct: b64(record.ct), at: record.at }));
    },
    async delete(id) { storage.removeItem(prefix + id); },
    clear() { for (const k of ids()) storage.removeItem(k); },
  };
}

/**
 * The reload store, or null if this browser has no IndexedDB (then a reload loses the chats).
 * `tabScoped`: keep the records in sessionStorage instead of the database.
 */
export async function openReloadState({ name = CONSOLE_DB, tabScoped = false, idleMs = IDLE_MS,
                                        now = () => Date.now() } = {}) {
  let db;
  const records = tabScoped ? storageRecords(sessionStorage, name + ":") : databaseRecords(() => db);
  try {
    db = await openDb(name);
    // Left idle too long (the tab closed, the browser quit): start from nothing.
    const kept = await records.all();
    if (kept.some(([, r]) => !r || !(now() - r.at <= idleMs))) {
      db.close();
      records.clear();
      await deleteDb(name);
      db = await openDb(name);
    }
  } catch { return null; }
  let key = await request(store(db, KEYS, "readonly").get("wrap"));
  if (!key) {
    key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false,
                                          ["encrypt", "decrypt"]);
    await request(store(db, KEYS, "readwrite").put(key, "wrap"));
  }
  let idleTimer = null;
  let wiped = false;
  const armIdle = () => {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => { api.wipe(); }, idleMs);
  };

  const api = {
    /** Keep one chat's state (plain JSON), replacing what was kept before. */
    async save(chatId, state) {
      if (wiped) return;
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ct = await crypto.subtle.encrypt(
        { name: "AES-GCM", iv, additionalData: encoder.encode(chatId) }, key,
        encoder.encode(JSON.stringify(state)));
      if (wiped) return;
      await records.put(chatId, { iv, ct, at: now() });
      armIdle();
    },
    /** Every chat's state by chat id; all of it is wiped if one does not open. */
    async load() {
      const out = new Map();
      try {
        for (const [id, record] of await records.all()) {
          const plain = await crypto.subtle.decrypt(
            { name: "AES-GCM", iv: record.iv, additionalData: encoder.encode(id) }, key,
            record.ct);
          out.set(id, JSON.parse(decoder.decode(plain)));
        }
      } catch {
        await api.wipe();
        return new Map();
      }
      if (out.size) armIdle();
      return out;
    },
    /** True once wiped: this store keeps nothing more, open a new one. */
    get wiped() { return wiped; },
    /** Forget one chat. */
    async remove(chatId) {
      if (!wiped) await records.delete(chatId);
    },
    /** Forget everything, the key included. */
    async wipe() {
      wiped = true;
      clearTimeout(idleTimer);
      records.clear();
      db.close();
      await deleteDb(name);
    },
  };
  return api;
}

/** Delete a reload store without opening it (sign-out before the console ever loaded). */
export function wipeReloadState(name = CONSOLE_DB) {
  try { for (const k of Object.keys(sessionStorage)) if (k.startsWith(name + ":")) sessionStorage.removeItem(k); } catch { /* no storage */ }
  return deleteDb(name);
}

/**
 * Hold the Web Lock `name` of this origin while this page lives, so that a second tab (a copied
 * one too: browsers copy sessionStorage into it) does not run the same chats with the same keys
 * and reload state. Waits up to `waitMs` for a page that is just going (a reload); resolves true
 * once held, false if another page holds it. `steal` takes it from that page, whose `onLost`
 * then runs. Without Web Locks (an old browser) every page holds it.
 */
export function holdTab(name, { waitMs = 2000, steal = false, onLost = () => {} } = {}) {
  if (!navigator.locks) return Promise.resolve(true);
  let held = false;
  return new Promise((resolve) => {
    const options = steal ? { steal: true } : { signal: AbortSignal.timeout(waitMs) };
    navigator.locks.request(name, options, () => {
      held = true;
      resolve(true);
      return new Promise(() => {});
    }).catch(() => { if (held) onLost(); else resolve(false); });
  });
}
