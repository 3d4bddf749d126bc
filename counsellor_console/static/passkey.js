// WebAuthn ceremonies the server checks (sign-in, registration): its JSON options made usable
// for navigator.credentials, and a credential turned back into JSON for the server. Extension
// results are never sent: what a passkey's PRF gives for the keys stays in this browser.
export const fromB64url = (text) => {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
};

export const toB64url = (buf) => {
  const bytes = new Uint8Array(buf);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

const descriptors = (list) => (list || []).map((c) => ({ type: c.type, id: fromB64url(c.id), transports: c.transports }));

/** Options for navigator.credentials.get from the server's JSON. */
export function requestOptions(json) {
  return { ...json, challenge: fromB64url(json.challenge), allowCredentials: descriptors(json.allowCredentials) };
}

/** Options for navigator.credentials.create; with PRF asked for, so the same passkey can also
 * unlock the console's keys in this browser. */
export function creationOptions(json) {
  return { ...json, challenge: fromB64url(json.challenge),
           user: { ...json.user, id: fromB64url(json.user.id) },
           excludeCredentials: descriptors(json.excludeCredentials),
           extensions: { prf: {} } };
}

/** An assertion as the server reads it. */
export function assertionJSON(cred) {
  const r = cred.response;
  return { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
           response: { clientDataJSON: toB64url(r.clientDataJSON), authenticatorData: toB64url(r.authenticatorData),
                       signature: toB64url(r.signature), userHandle: r.userHandle ? toB64url(r.userHandle) : null },
           clientExtensionResults: {} };
}

/** A new credential as the server reads it. */
export function attestationJSON(cred) {
  const r = cred.response;
  return { id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
           response: { clientDataJSON: toB64url(r.clientDataJSON), attestationObject: toB64url(r.attestationObject),
                       transports: r.getTransports ? r.getTransports() : [] },
           clientExtensionResults: {} };
}
