// What the console says beyond the page's own labels: delivery marks, what a request's codes
// mean, and every server refusal by its error code, in the page's one language (i18n.js).
import { t } from "./i18n.js";

export { lang, locale, t } from "./i18n.js";

// What a line of mine says, per outbox state.
export const STATUS = { queued: t("mark.queued"), sent: t("mark.sent"), delivered: t("mark.delivered"),
                        lost: t("mark.lost"), failed: t("mark.lost") };

// What a request's entry and language codes mean, for people: "exit" reads too much like the
// quick exit, and "return" says nothing of the codename.
const ENTRIES = ["exit", "relative", "professional", "return"];
const LANGS = { de: "Deutsch", en: "English" };
export const entryLabel = (code) => (ENTRIES.includes(code) ? t("entry." + code) : String(code || "Chat"));
export const langLabel = (code) => LANGS[code] || String(code || "");

// Every server refusal (chatserver/errors.py ErrorCode, docs/architecture.md) in the console's
// words ("error.<code>"); the server's own message is for logs and developers, never shown.
export const errorText = (code) => t("error." + code);

// Where one code means something more precise for one action ("refused.<action>.<code>").
const REFUSED_WHEN = { duty: ["bad_state"], accept: ["bad_state"], transfer: ["not_found"],
                       records: ["forbidden"], grant: ["forbidden"],
                       register: ["invalid", "forbidden"] };
const KNOWN = ["invalid", "not_found", "forbidden", "rate_limited", "queue_full", "taken", "limit",
  "bad_seq", "bad_state", "reserved", "conflict", "challenge", "no_consent", "no_grant",
  "unavailable", "internal"];
export function refusal(ack, action) {
  if ((REFUSED_WHEN[action] || []).includes(ack.error)) return t("refused." + action + "." + ack.error);
  if (KNOWN.includes(ack.error)) return errorText(ack.error);
  return t("refused", { code: String(ack.error) });
}
