// The account page: passkeys for signing in, registered after the password and a second factor
// are confirmed again (one of the account's passkeys once it has one, else the one-time code),
// and removed by their owner. A new passkey also gets a key wrap (PRF) when
// this browser has the console's keys unlocked, so the same passkey opens them.
import { t } from "./i18n.js";
import { wrapWithPasskey } from "./keys.js";
import { assertionJSON, attestationJSON, creationOptions, requestOptions } from "./passkey.js";

const $ = (id) => document.getElementById(id);
const main = $("account");
const csrf = main.dataset.csrf;
const say = (text) => { $("account-status").textContent = text; };

async function call(method, url, body) {
  const res = await fetch(url, { method, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
                                 body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) {
    const text = await res.text();
    const err = new Error(text);
    err.status = res.status;
    throw err;
  }
  return res.json();
}

function removable(li) {
  li.querySelector("button.remove").addEventListener("click", async () => {
    try {
      await call("DELETE", "/console/api/passkeys/" + encodeURIComponent(li.dataset.id));
      li.remove();
      say(t("account.removed"));
    } catch (err) { say(t("account.not_removed", { status: err.status })); }
  });
}

for (const li of document.querySelectorAll("#passkeys li[data-id]")) removable(li);

const form = $("passkey-new");
const elsewhere = $("passkey-elsewhere");
if (form && elsewhere && !elsewhere.dataset.origins.split(" ").includes(location.origin)) {
  // Another address of this server: a passkey made here would belong to no relying party.
  form.hidden = true;
  elsewhere.hidden = false;
}
if (form) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(t("wait"));
    let begun;
    const byPasskey = form.dataset.confirm === "passkey";
    try {
      const confirm = { password: $("passkey-password").value };
      if (byPasskey) {
        // One of the account's passkeys confirms; the server named exactly those.
        const { attempt, options } = await call("POST", "/console/api/passkeys/confirm", {});
        const cred = await navigator.credentials.get({ publicKey: requestOptions(options) });
        Object.assign(confirm, { attempt, assertion: assertionJSON(cred) });
      } else {
        confirm.totp = $("passkey-totp").value.replace(/\s/g, "");
      }
      begun = await call("POST", "/console/api/passkeys/options", confirm);
    } catch (err) {
      say(err.name === "NotAllowedError" ? t("account.no_passkey_confirmed")
        : err.status === 403 ? t(byPasskey ? "account.wrong_passkey" : "account.wrong")
        : err.status === 429 ? t("account.throttled")
        : t("account.not_possible", { status: err.status || err.name }));
      return;
    } finally {
      $("passkey-password").value = "";
      if ($("passkey-totp")) $("passkey-totp").value = "";
    }
    try {
      const cred = await navigator.credentials.create({ publicKey: creationOptions(begun.options) });
      const label = $("passkey-label").value.trim();
      const { id } = await call("POST", "/console/api/passkeys", { attempt: begun.attempt, credential: attestationJSON(cred), label });
      const li = document.createElement("li");
      li.dataset.id = id;
      const name = document.createElement("span");
      name.className = "label";
      name.textContent = label || "Passkey";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "remove";
      remove.textContent = t("account.remove");
      li.append(name, " ", remove);
      $("passkeys").append(li);
      removable(li);
      if ($("no-passkeys")) $("no-passkeys").remove();
      if ($("passkey-required")) $("passkey-required").remove();
      if (form.dataset.confirm !== "passkey") {
        // From now on another passkey is confirmed with a registered one, never the code.
        form.dataset.confirm = "passkey";
        form.querySelector('label[for="passkey-totp"]').remove();
        $("passkey-totp").remove();
        form.querySelector("p").textContent = t("account.confirm_passkey");
      }
      $("passkey-label").value = "";
      let wrapped = false;
      try { wrapped = await wrapWithPasskey({ csrf, user: main.dataset.user, cred: id }); } catch { wrapped = false; }
      say(wrapped ? t("account.registered_unlocks")
        : t("account.registered"));
    } catch (err) {
      say(err.name === "InvalidStateError" ? t("account.already")
        : err.name === "NotAllowedError" ? t("account.cancelled")
        : t("account.not_registered", { status: err.status || err.name }));
    }
  });
}
