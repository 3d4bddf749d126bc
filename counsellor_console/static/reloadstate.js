// What a console reload keeps (docs/protocol.md, "Reload state"): per chat one record in
// IndexedDB, AES-256-GCM under a non-extractable WebCrypto key kept in the same database (a
// structured clone of the CryptoKey: script on this origin can use it, nobody can read it
// out). The chat id is the associated data, so a record cannot be moved to another chat.
// Everything goes at once on sign-out, after IDLE_MS without a write, or when a record does
// not open; one chat's record when that chat leaves this console. Nothing in Web Storage.
const DB = "erstkontakt-console-reload";
const RECORDS = "records";
const KEYS = "keys";
export const IDLE_MS = 12 * 3600 * 1000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDb() {
  const req = indexedDB.open(DB, 1);
  req.onupgradeneeded = () => {
    req.result.createObjectStore(RECORDS);
    req.result.createObjectStore(KEYS);
  };
  return request(req);
}

function deleteDb() {
  return new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(DB);
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  });
}

function store(db, name, mode) { return db.transaction(name, mode).objectStore(name); }

/** The reload store, or null if this browser has no IndexedDB (then a reload loses the chats). */
export async function openReloadState({ idleMs = IDLE_MS, now = () => Date.now() } = {}) {
  let db;
  try {
    db = await openDb();
    // Left idle too long (the tab closed, the browser quit): start from nothing.
    const times = await request(store(db, RECORDS, "readonly").getAll());
    if (times.some((r) => !r || !(now() - r.at <= idleMs))) {
      db.close();
      await deleteDb();
      db = await openDb();
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
      await request(store(db, RECORDS, "readwrite").put({ iv, ct, at: now() }, chatId));
      armIdle();
    },
    /** Every chat's state by chat id; all of it is wiped if one does not open. */
    async load() {
      const out = new Map();
      const os = store(db, RECORDS, "readonly");
      const [ids, records] = await Promise.all([request(os.getAllKeys()), request(os.getAll())]);
      try {
        for (let i = 0; i < ids.length; i++) {
          const plain = await crypto.subtle.decrypt(
            { name: "AES-GCM", iv: records[i].iv, additionalData: encoder.encode(ids[i]) }, key,
            records[i].ct);
          out.set(ids[i], JSON.parse(decoder.decode(plain)));
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
      if (!wiped) await request(store(db, RECORDS, "readwrite").delete(chatId));
    },
    /** Forget everything, the key included. */
    async wipe() {
      wiped = true;
      clearTimeout(idleTimer);
      db.close();
      await deleteDb();
    },
  };
  return api;
}

/** Delete the reload store without opening it (sign-out before the console ever loaded). */
export function wipeReloadState() { return deleteDb(); }
