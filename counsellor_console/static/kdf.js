// The key passphrase's key derivation (docs/protocol.md, "The console's keys: key custody"):
// scrypt, memory-hard, so that a copied database costs an attacker memory per guess and not
// only time. The parameters travel inside each wrap ({v: 3, kdf: "scrypt", N, r, p, salt});
// a wrap below the floor (a downgrade written into the database) or above the ceiling (a
// page made to run out of memory) is refused before anything is derived. scrypt itself is
// @noble/hashes' (audited), bundled from node_modules at install time and passed in here, so
// that Node's tests run this very file against tests/vectors/console-kdf.json.

// About a second in Chromium on a 2-core machine, 128 MiB (docs/benchmarks.md).
export const SCRYPT = Object.freeze({ N: 2 ** 17, r: 8, p: 1 });
// Never below 64 MiB (128 · N · r bytes); never above 1 GiB or p = 16.
export const FLOOR_BYTES = 64 * 1024 * 1024;
export const CEILING_BYTES = 1024 * 1024 * 1024;
export const MAX_P = 16;
export const SALT_BYTES = 16;

/** A wrap whose parameters are below the floor, out of range or malformed. */
export class WeakParameters extends Error {
  constructor(message) { super(message); this.name = "WeakParameters"; }
}

const isPowerOfTwo = (n) => Number.isSafeInteger(n) && n > 1 && (n & (n - 1)) === 0;

/** The scrypt parameters of a wrap, checked against floor and ceiling. */
export function scryptParams(wrap) {
  const { N, r, p } = wrap || {};
  if (!isPowerOfTwo(N) || !Number.isSafeInteger(r) || r < 1 || !Number.isSafeInteger(p) || p < 1) {
    throw new WeakParameters("malformed scrypt parameters");
  }
  const bytes = 128 * N * r;
  if (bytes < FLOOR_BYTES) throw new WeakParameters("scrypt memory below the floor");
  if (bytes > CEILING_BYTES || p > MAX_P) throw new WeakParameters("scrypt parameters above the ceiling");
  return { N, r, p };
}

/** The 32-byte wrap key for `passphrase` (UTF-8) under a wrap's salt and checked parameters. */
export async function scryptKey(scryptAsync, passphrase, salt, params) {
  const { N, r, p } = scryptParams(params);
  if (!(salt instanceof Uint8Array) || salt.length < SALT_BYTES) throw new WeakParameters("salt too short");
  return scryptAsync(new TextEncoder().encode(passphrase), salt,
    { N, r, p, dkLen: 32, maxmem: CEILING_BYTES + 1024 * 1024 });
}
