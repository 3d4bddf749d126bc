// The login page derives nothing: signing in unlocks no key (docs/protocol.md, "Key custody").
// Whoever sees this page is signed out, or their session ended: the console's unlocked keys
// kept for that session go, and so does the wrap key an older console left in sessionStorage.
// "Passkey statt Einmalcode": the server makes a challenge for this attempt, the passkey answers
// it, and the form goes with name, password and the answer instead of a one-time code.
import { t } from "./i18n.js";
import { forgetKeys } from "./keys.js";
import { assertionJSON, requestOptions } from "./passkey.js";

sessionStorage.removeItem("erstkontakt-wrap");
forgetKeys();

const $ = (id) => document.getElementById(id);
const button = $("passkey-login");
if (button) {
  // A passkey belongs to the console's configured host: elsewhere (http://127.0.0.1 beside
  // http://localhost) the browser would refuse it, so the button is not offered there.
  button.hidden = !window.PublicKeyCredential || !button.dataset.origins.split(" ").includes(location.origin);
  button.addEventListener("click", async () => {
    const form = $("login");
    if (!$("name").reportValidity() || !$("password").reportValidity()) return;
    $("passkey-status").textContent = t("login.passkey_confirm");
    try {
      const res = await fetch("/console/login/passkey", { method: "POST", headers: { "X-CSRF-Token": form.elements.csrf.value } });
      if (!res.ok) throw new Error(res.status === 429 ? t("login.passkey_throttled") : t("login.passkey_unavailable", { status: res.status }));
      const { attempt, options } = await res.json();
      const cred = await navigator.credentials.get({ publicKey: requestOptions(options) });
      form.elements.attempt.value = attempt;
      form.elements.assertion.value = JSON.stringify(assertionJSON(cred));
      $("totp").value = "";
      form.submit();
    } catch (err) {
      $("passkey-status").textContent = err.name === "NotAllowedError"
        ? t("login.passkey_none")
        : err.message;
    }
  });
}
