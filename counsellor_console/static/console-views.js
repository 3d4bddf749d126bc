// The views (chats, records, messages, canned replies) and the open chats as WAI-ARIA tabs.
import { $ } from "./console-page.js";
import { select } from "./console-chats.js";

// The views (chats, records, messages, canned replies) follow the WAI-ARIA tabs pattern: one
// tab stop, arrow keys, Home and End move and activate, each tab shows its own panel.
const VIEWS = ["chats", "records", "drops", "canned"];
export function showView(name, focus = false) {
  for (const view of VIEWS) {
    const tab = $("view-" + view + "-tab"), on = view === name;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    $("view-" + view).hidden = !on;
    if (on && focus) tab.focus();
  }
}
for (const view of VIEWS) $("view-" + view + "-tab").addEventListener("click", () => showView(view));

// Arrow keys within a tablist: the next or previous tab, wrapping; Home and End.
function arrows(list, keys, activate) {
  list.addEventListener("keydown", (e) => {
    const tabs = [...list.querySelectorAll('[role="tab"]')];
    const at = tabs.indexOf(document.activeElement);
    if (at < 0 || e.altKey || e.ctrlKey || e.metaKey) return;
    let to = null;
    if (keys.next.includes(e.key)) to = (at + 1) % tabs.length;
    else if (keys.previous.includes(e.key)) to = (at - 1 + tabs.length) % tabs.length;
    else if (e.key === "Home") to = 0;
    else if (e.key === "End") to = tabs.length - 1;
    if (to === null) return;
    e.preventDefault();
    const id = tabs[to].id;
    activate(tabs[to]);
    // Activating may have drawn the tabs anew: focus the one now in the page.
    $(id).focus();
  });
}
arrows($("view-tabs"), { next: ["ArrowRight"], previous: ["ArrowLeft"] },
  (tab) => showView(tab.id.replace(/^view-|-tab$/g, "")));
arrows($("tabs"), { next: ["ArrowDown", "ArrowRight"], previous: ["ArrowUp", "ArrowLeft"] },
  (tab) => select(tab.dataset.chat));

// On a narrow screen (200 % zoom) the page scrolls: bring the composer, and the log above
// it, into sight; on a wide one everything is in sight already and nothing moves.
export function inSight() {
  $("compose").scrollIntoView({ block: "nearest" });
}
