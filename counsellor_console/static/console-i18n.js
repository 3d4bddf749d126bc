// What the console says: delivery marks, what a request's codes mean, and every server refusal
// in the console's words.

// What a line of mine says, per outbox state.
export const STATUS = { queued: "wird gesendet / sending", sent: "gesendet / sent",
                 delivered: "zugestellt / delivered", lost: "nicht zugestellt / not delivered",
                 failed: "nicht zugestellt / not delivered" };

// What a request's entry and language codes mean, for people: "exit" reads too much like the
// quick exit, and "return" says nothing of the codename.
const ENTRY = {
  exit: "Denkt über Ausstieg nach / considering leaving",
  relative: "Angehörige / relative",
  professional: "Fachkraft / professional",
  return: "Kommt mit Codewort zurück / returning with a codename",
};
const LANG = { de: "Deutsch", en: "English" };
export const entryLabel = (code) => ENTRY[code] || String(code || "Chat");
export const langLabel = (code) => LANG[code] || String(code || "");

// Every server refusal (chatserver/errors.py ErrorCode, docs/architecture.md) in the console's
// words; the server's own message is for logs and developers, never shown alone.
export const ERRORS = {
  invalid: "Ungültige Anfrage: bitte Seite neu laden / invalid request: please reload the page",
  not_found: "Nicht (mehr) vorhanden: der Chat oder die Akte ist beendet oder gelöscht / no longer there: the chat or record has ended or been deleted",
  forbidden: "Nicht erlaubt: das gehört nicht zu Ihren Chats oder Rechten / not allowed: not one of your chats or rights",
  rate_limited: "Zu viele Anfragen: bitte einen Moment warten / too many requests: please wait a moment",
  queue_full: "Die Warteschlange ist voll / the queue is full",
  taken: "Schon von jemand anderem aus dem Team angenommen / already accepted by a colleague",
  limit: "Sie führen schon so viele Chats wie erlaubt / you already hold as many chats as allowed",
  bad_seq: "Nachrichtenfolge durcheinander: wird neu abgeglichen / messages out of order: resynchronising",
  bad_state: "Gerade nicht möglich / not possible right now",
  reserved: "Diese Person wartet auf ihre bisherige Ansprechperson / this returning visitor waits for their counsellor",
  conflict: "Inzwischen geändert: bitte neu laden / changed meanwhile: please reload",
  challenge: "Sicherheitsprüfung fehlgeschlagen: bitte neu laden / security check failed: please reload",
  no_consent: "Keine Einwilligung der Person / no consent from the visitor",
  no_grant: "Kein Zugriff auf Fallakten: Der Aktenschlüssel wurde Ihnen noch nicht freigegeben; " +
    "bitten Sie jemanden aus dem Team, der ihn hat, um Freigabe. / No access to case records: the records key " +
    "has not been granted to you; ask a colleague who holds it to grant it.",
  unavailable: "Dienst vorübergehend nicht erreichbar: bitte gleich noch einmal / service unavailable for now: please try again shortly",
  internal: "Fehler auf dem Server: bitte noch einmal versuchen / something went wrong on the server: please try again",
};
// Where one code means something more precise for one action.
const REFUSED_WHEN = {
  duty: { bad_state: "Erst alle Chats beenden oder übergeben, dann den Dienst beenden / end or transfer your chats before going off duty" },
  accept: { bad_state: "Erst den Dienst beginnen, dann Chats annehmen / go on duty before accepting chats" },
  transfer: { not_found: "Diese Person ist nicht (mehr) im Dienst / that colleague is not on duty" },
  records: { forbidden: "Nur wer die Akte angelegt hat, oder die Administration, darf das / only the counsellor who filed this record, or an administrator, may do this" },
  grant: { forbidden: "Nur wer den Aktenschlüssel hat, kann ihn freigeben / only someone who holds the records key can grant it" },
};
export function refusal(ack, action) {
  const special = REFUSED_WHEN[action] || {};
  return special[ack.error] || ERRORS[ack.error] || "Abgelehnt / refused (" + String(ack.error) + ")";
}
