// The page's side of proof of work (docs/security.md, "Proof of work"): a chat request, a
// codename lookup or an anonymous message first asks `challenge {}`; when the server wants
// bits above zero, a worker (pow-worker.js, fetched only then) finds the proof, which pays for
// exactly this one event.

/** Emit `event` with `payload` on `socket`, paying first if the server asks; the answer.
 * `working(solve)` runs the search, `solve(progress)`, while the page says so. */
export async function paid(socket, event, payload, working) {
  // Twice at most: a nonce dies with its socket, so one that reconnected meanwhile needs another.
  for (let attempt = 0; ; attempt++) {
    const challenge = await socket.emitWithAck("challenge", {});
    if (challenge.error) return challenge;
    if (challenge.bits > 0) {
      const proof = await working((progress) => solve(challenge, progress));
      const redeemed = await socket.emitWithAck("challenge", { proof });
      if (redeemed.error === "challenge" && attempt === 0) continue;
      if (redeemed.error) return redeemed;
    }
    return socket.emitWithAck(event, payload);
  }
}

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
