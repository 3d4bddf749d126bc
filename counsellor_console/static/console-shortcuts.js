// The console's keyboard shortcuts (listed in the shortcuts dialog).
import { $, root } from "./console-page.js";
import { chats, current, select } from "./console-chats.js";
import { inSight, showView } from "./console-views.js";

// The next (step 1) or previous (-1) open chat, wrapping, shown with its tab focused.
function cycle(step) {
  const ids = [...chats.keys()];
  if (!ids.length) return;
  const at = ids.indexOf(current);
  select(ids[(at + step + ids.length) % ids.length]);
  showView("chats");
  inSight();
  const tab = $("tab-" + current);
  if (tab) tab.focus({ preventScroll: true });
}

function focusComposer() {
  if (!chats.has(current)) return;
  showView("chats");
  $("text").focus();
  inSight();
}

// Shortcuts (listed in the "Tastenkürzel / Shortcuts" dialog). Plain letters act only while no
// field has the focus, so typing never triggers them; with Alt they act everywhere.
const typing = (node) => node instanceof HTMLElement &&
  (node.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(node.tagName));
const acceptFirst = () => { const first = $("queue").querySelector("button"); if (first) first.click(); };
const PLAIN = {
  a: acceptFirst,
  n: () => cycle(1), p: () => cycle(-1), c: focusComposer,
  "?": () => $("shortcuts").showModal(),
};
const WITH_ALT = {
  KeyA: acceptFirst, ArrowDown: () => cycle(1), ArrowUp: () => cycle(-1), KeyC: focusComposer,
  KeyE: () => { if (chats.has(current)) { showView("chats"); $("end").click(); } },
};
document.addEventListener("keydown", (e) => {
  if (e.defaultPrevented || e.isComposing || root.inert || document.querySelector("dialog[open]")) return;
  let act = null;
  // Alt+Down still opens a dropdown list where one has the focus.
  if (e.altKey && !e.ctrlKey && !e.metaKey) {
    act = e.target instanceof HTMLSelectElement && e.key.startsWith("Arrow") ? null : WITH_ALT[e.code] || WITH_ALT[e.key];
  }
  else if (!e.altKey && !e.ctrlKey && !e.metaKey && !typing(e.target)) act = PLAIN[e.key];
  if (!act) return;
  e.preventDefault();
  act();
});
// Ctrl+Enter (Cmd+Enter) sends from the message field; Enter alone starts a new line.
$("text").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !e.isComposing) {
    e.preventDefault();
    $("compose").requestSubmit();
  }
});
$("shortcuts-open").addEventListener("click", () => $("shortcuts").showModal());
$("shortcuts-close").addEventListener("click", () => $("shortcuts").close());
