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

// Chat requests, codename lookups and anonymous messages cost a proof when the server asks;
// a note next to the button that started it says so meanwhile, and the other buttons that
// would cost one wait.
const WORK_BUTTONS = ["start", "return-go", "withdraw", "drop-send"];

/** Find the proof for `challenge` while the page (widget.js `page`) shows a note near `near`. */
export async function working(page, near, challenge) {
  const { $, t } = page;
  const note = $("work"), bar = $("work-bar");
  const before = WORK_BUTTONS.map((id) => $(id).disabled);
  for (const id of WORK_BUTTONS) $(id).disabled = true;
  $(near).after(note);
  bar.value = 0;
  note.hidden = false;
  // Filled in once shown, so that screen readers hear it as a change of a live region.
  requestAnimationFrame(() => { if (!note.hidden) $("work-text").textContent = t("work"); });
  try {
    return await solve(challenge, (done) => { bar.value = done; });
  } finally {
    note.hidden = true;
    $("work-text").textContent = "";
    WORK_BUTTONS.forEach((id, i) => { $(id).disabled = before[i]; });
  }
}
