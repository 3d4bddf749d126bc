// A jslib/e2e.js peer for the cross-language tests: one JSON request per stdin line, one JSON
// answer per stdout line. Driven by tests/test_crypto_python_and_browser_interoperate.py.
import { createInterface } from "node:readline";
import { createRequire } from "node:module";

globalThis.nacl = createRequire(import.meta.url)("tweetnacl");
const e2e = { ...(await import("../../jslib/e2e.js")), ...(await import("../../jslib/e2e-keys.js")),
  ...(await import("../../jslib/e2e-counsellor.js")) };
const { b64decode, b64encode } = e2e;

let session = null;

function handle(req) {
  switch (req.op) {
    case "visitor":
      session = e2e.createVisitorSession({
        orgPublicKey: req.org, chatId: req.chat_id, revocationList: req.revocations,
        now: req.now,
      });
      return { hello: b64encode(session.hello()) };
    case "counsellor":
      session = e2e.createCounsellorSession({
        identitySecretKey: req.identity, certificate: req.certificate, chatId: req.chat_id,
      });
      return {};
    case "receive": {
      const got = session.receive(b64decode(req.frame));
      const out = { kind: got.kind, payload: got.payload };
      if (got.reply) out.reply = b64encode(got.reply);
      return out;
    }
    case "encrypt":
      return { frame: b64encode(session.encrypt(req.payload)) };
    case "safety":
      return { safety: session.safetyNumber() };
    case "seal":
      return { sealed: b64encode(e2e.seal(req.pk, b64decode(req.message))) };
    case "open":
      return { message: b64encode(e2e.openSealed(req.sk, req.pk, b64decode(req.sealed))) };
    default:
      throw new Error("unknown op");
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  let answer;
  try {
    answer = handle(JSON.parse(line));
  } catch (err) {
    answer = { error: err instanceof e2e.CryptoError ? err.code : "internal",
               message: String(err.message) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
}
