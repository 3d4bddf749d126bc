// The console page itself: its elements, what the server put in its data attributes, and the
// small builders every view uses. Text reaches the DOM only via textContent.

import { locale } from "./i18n.js";

export const root = document.getElementById("console");
export const $ = (id) => document.getElementById(id);
export const csrf = root.dataset.csrf;
export const consentVersion = root.dataset.consentVersion;

// Destructive actions ask first, in a modal dialog whose focus starts on the harmless answer:
// an Enter still held or repeated from the composer can only cancel, never confirm.
export function confirmFirst(title, text, yes) {
  const dialog = $("confirm");
  $("confirm-h").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  dialog.returnValue = "";
  dialog.showModal();
  $("confirm-no").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}
$("confirm-no").addEventListener("click", () => $("confirm").close(""));
$("confirm-yes").addEventListener("click", () => $("confirm").close("yes"));

// hh:mm on this device's clock.
export const hhmm = (ms) => new Date(ms).toLocaleTimeString(locale, { hour: "2-digit", minute: "2-digit" });

export function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

export async function post(url, body) {
  const res = await fetch(url, {
    method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify(body || {}),
  });
  if (!res.ok) throw new Error(String(res.status));
  return res.json();
}

// The unread count reads "(n)" (screen readers and the tab's name), shown as a badge.
export function badge(n) {
  const b = el("span", undefined, "badge");
  b.append(el("span", "(", "visually-hidden"), String(n), el("span", ")", "visually-hidden"));
  return b;
}

// How long someone has waited, as m:ss (h:mm:ss past the hour).
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds)), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s % 60)}` : `${m}:${two(s % 60)}`;
}

export const day = (t) => new Date(t * 1000).toLocaleString(locale);
