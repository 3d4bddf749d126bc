// Before the login form is sent, derive the key that unwraps this counsellor's identity and
// box keys (PBKDF2-SHA-256 in WebCrypto). It stays in this tab's sessionStorage, never sent.
const form = document.getElementById("login");
let derived = false;
form.addEventListener("submit", async (event) => {
  if (derived) return;
  event.preventDefault();
  const name = form.elements.name.value, password = form.elements.password.value;
  const material = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", iterations: 600000, salt: new TextEncoder().encode("erstkontakt console keys:" + name) },
    material, 256);
  let s = "";
  for (const b of new Uint8Array(bits)) s += String.fromCharCode(b);
  sessionStorage.setItem("erstkontakt-wrap", btoa(s));
  derived = true;
  form.submit();
});
