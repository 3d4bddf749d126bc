// The proof-of-work search for the chat server's `challenge` (chatserver/sockets/challenge.py),
// run as a module worker by pow.js only when the server asks: find a decimal proof such that
// SHA-256(nonce ":" proof) starts with `bits` zero bits, counting up from 0 as the Python
// reference solver does (tests/vectors/pow.json holds its answers). It hashes in plain
// JavaScript, about 25 times faster than WebCrypto's digest, one promise per try, and uses
// WebCrypto instead where the engine does not compile the loop. A worker's script can carry no
// integrity hash, so pow.js checks the proof it finds; the worker gets only the nonce, and
// runs under its own response's policy (default-src 'none': no fetch, no import).

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const W = new Int32Array(64);
const H = new Int32Array(8);
// Tries between two progress reports: a few hundredths of a second on a phone.
export const CHUNK = 1 << 14;

const rotr = (x, n) => (x >>> n) | (x << (32 - n));

/** SHA-256 of msg[0..n), which must have room for the padding; the digest's words in H. */
function sha256(msg, n) {
  const end = ((n + 72) >> 6) * 64;
  msg[n] = 0x80;
  msg.fill(0, n + 1, end);
  const bits = n * 8;
  msg[end - 4] = bits >>> 24; msg[end - 3] = bits >>> 16; msg[end - 2] = bits >>> 8; msg[end - 1] = bits;
  H.set(IV);
  for (let o = 0; o < end; o += 64) {
    for (let i = 0; i < 16; i++) {
      W[i] = (msg[o + 4 * i] << 24) | (msg[o + 4 * i + 1] << 16) | (msg[o + 4 * i + 2] << 8) | msg[o + 4 * i + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15], y = W[i - 2];
      W[i] = (W[i - 16] + (rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3)) + W[i - 7]
        + (rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10))) | 0;
    }
    let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    for (let i = 0; i < 64; i++) {
      const t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      const t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
  }
  return H;
}

/** SHA-256 of `bytes`: the search's own hashing, for the known-answer tests. */
export function sha256Bytes(bytes) {
  const msg = new Uint8Array(bytes.length + 72);
  msg.set(bytes);
  const h = sha256(msg, bytes.length), out = new DataView(new ArrayBuffer(32));
  for (let i = 0; i < 8; i++) out.setInt32(4 * i, h[i]);
  return new Uint8Array(out.buffer);
}

/** How many zero bits a digest starts with. */
export function leadingZeroBits(digest) {
  let bits = 0;
  for (const byte of digest) {
    if (byte) return bits + Math.clz32(byte) - 24;
    bits += 8;
  }
  return bits;
}

/** The zero bits `proof` earns for `nonce` (as challenge.work says). */
export function work(nonce, proof) {
  return leadingZeroBits(sha256Bytes(new TextEncoder().encode(nonce + ":" + proof)));
}

/** Try the proofs from, from + 1, … below `to`; the first good one as a string, or null. */
export function search(nonce, bits, from, to) {
  const prefix = new TextEncoder().encode(nonce + ":");
  const msg = new Uint8Array(prefix.length + 16 + 72);
  msg.set(prefix);
  const whole = bits >> 5, rest = bits & 31, mask = rest ? (~0 << (32 - rest)) : 0;
  for (let proof = from; proof < to; proof++) {
    const digits = String(proof);
    let n = prefix.length;
    for (let i = 0; i < digits.length; i++) msg[n++] = digits.charCodeAt(i);
    const h = sha256(msg, n);
    let ok = true;
    for (let i = 0; i < whole && ok; i++) ok = h[i] === 0;
    if (ok && (!rest || (h[whole] & mask) === 0)) return digits;
  }
  return null;
}

/**
 * The same search with WebCrypto's SHA-256, a batch of digests at a time: slower where
 * JavaScript is compiled, much faster where it is not (Tor Browser's "Safer" level turns the
 * JIT off, which makes the search above about 80 times slower).
 */
export async function searchDigests(nonce, bits, from, to) {
  const enc = new TextEncoder();
  for (let start = from; start < to; start += 256) {
    const count = Math.min(256, to - start);
    const digests = await Promise.all(Array.from({ length: count }, (_, i) =>
      crypto.subtle.digest("SHA-256", enc.encode(nonce + ":" + (start + i)))));
    const at = digests.findIndex((d) => leadingZeroBits(new Uint8Array(d)) >= bits);
    if (at >= 0) return String(start + at);
  }
  return null;
}

// Proofs per trial while choosing the faster hashing, and the most time JavaScript gets to
// show that it has been compiled.
export const TRIAL = 512;
const WARM_MS = 150;

/** Search from 0 with whichever hashing is faster here, reporting progress after each chunk. */
export async function run(nonce, bits, report) {
  let from = 0, step = null;
  const trial = async (each) => {
    const started = performance.now();
    const proof = await each(nonce, bits, from, from + TRIAL);
    from += TRIAL;
    return [proof, performance.now() - started];
  };
  // WebCrypto's pace is steady; JavaScript's rises once the engine compiles the loop, which
  // it may never do. The trials search like any chunk: their proofs count.
  let [proof, digests] = await trial(searchDigests);
  for (let spent = 0; proof === null && step === null;) {
    const [found, took] = await trial(search);
    proof = found;
    spent += took;
    if (took < digests) step = search;
    else if (spent > WARM_MS) step = searchDigests;
  }
  for (; proof === null; from += CHUNK) {
    proof = await step(nonce, bits, from, from + CHUNK);
    if (proof === null) report(from + CHUNK);
  }
  return proof;
}

// Loaded as a worker: search, saying after each chunk how far it got.
if (typeof WorkerGlobalScope !== "undefined" && globalThis instanceof WorkerGlobalScope) {
  globalThis.onmessage = async ({ data: { nonce, bits } }) => {
    globalThis.postMessage({ proof: await run(nonce, bits, (tried) => globalThis.postMessage({ tried })) });
  };
}
