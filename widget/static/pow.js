// The page's side of proof of work (docs/security.md, "Proof of work"): when the server wants
// bits above zero (`paid()` in jslib/relay.js asks), the widget loads this module and a worker
// (pow-worker.js, fetched only then) finds the proof, which pays for exactly this one event.

/** The zero bits SHA-256(nonce ":" proof) starts with, by WebCrypto. */
export async function zeroBits(nonce, proof) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(nonce + ":" + proof));
  let bits = 0;
  for (const byte of new Uint8Array(digest)) {
    if (byte) return bits + Math.clz32(byte) - 24;
    bits += 8;
  }
  return bits;
}

function inWorker(nonce, bits, onTried) {
  let worker;
  return new Promise((resolve, reject) => {
    worker = new Worker(new URL("./pow-worker.js", import.meta.url), { type: "module" });
    worker.onerror = reject;
    worker.onmessage = ({ data }) => (data.proof === undefined ? onTried(data.tried) : resolve(String(data.proof)));
    worker.postMessage({ nonce, bits });
  }).finally(() => worker && worker.terminate());
}

/** A proof for the challenge; `progress` hears a fraction that rises steadily towards 1. */
export async function solve({ nonce, bits }, progress = () => {}) {
  // The tries needed are random (2^bits on average): this stands at 63 % at the average.
  const onTried = (tried) => progress(1 - Math.exp(-tried / 2 ** bits));
  try {
    // The worker's script cannot carry an integrity hash: its answer is checked here.
    const proof = await inWorker(nonce, bits, onTried);
    if (/^\d{1,32}$/.test(proof) && (await zeroBits(nonce, proof)) >= bits) return proof;
  } catch { /* no worker here */ }
  // On this thread, slowly: every digest is a promise, so the page goes on meanwhile.
  for (let proof = 0; ; proof++) {
    if ((await zeroBits(nonce, proof)) >= bits) return String(proof);
    if (proof % 4096 === 4095) onTried(proof + 1);
  }
}
