// Duty and the queue: going on and off duty, the waiting requests with their waiting times,
// the roster to transfer to, and the unread count in the page title.
import { $, clock, el } from "./console-page.js";
import { entryLabel, langLabel, refusal, t } from "./console-i18n.js";
import { ask } from "./console-socket.js";
import { me } from "./console-state.js";
import { adopt, chats } from "./console-chats.js";
import { inSight, showView } from "./console-views.js";
import { notices } from "./console-notify.js";

export let onDuty = false;

// Unread lines in background chats and waiting requests (while on duty), in the page title
// and on the favicon (console-notify.js).
export function retitle() {
  let unread = onDuty ? queueSize : 0;
  for (const c of chats.values()) unread += c.unread;
  notices.count(unread);
}

let queueSize = 0, urgentSeen = new Set();
// A tone and a desktop notice as the counsellor chose them (notifications.js).
function announce(count, urgent) {
  if (count > queueSize || urgent) notices.request();
}

// Waiting times count up on this device's clock from what the server last said.
let queueShown = [];
function tickQueue() {
  const now = Date.now();
  for (const { span, waited, at } of queueShown) span.textContent = clock(waited + (now - at) / 1000);
}
setInterval(tickQueue, 1000);

// An urgent request (the visitor said so) is marked, and announced once even when the queue
// did not grow (it jumped ahead of others).
function urgentArrived(items) {
  const urgent = items.filter((item) => item.urgent).map((item) => item.chat_id);
  const fresh = urgent.some((id) => !urgentSeen.has(id));
  urgentSeen = new Set(urgent);
  return fresh;
}

export function renderQueue(items) {
  announce(items.length, urgentArrived(items));
  queueSize = items.length;
  retitle();
  const list = $("queue");
  list.replaceChildren();
  queueShown = [];
  for (const item of items) {
    const li = el("li", entryLabel(item.entry) + " · " + langLabel(item.lang) + " · " + t("queue.waiting") + " ");
    if (item.urgent) { li.prepend(el("strong", t("queue.urgent"), "urgent"), " · "); li.classList.add("urgent"); }
    const span = el("span", clock(item.waiting_s), "waited");
    queueShown.push({ span, waited: item.waiting_s, at: Date.now() });
    li.appendChild(span);
    li.appendChild(document.createTextNode(" "));
    const b = el("button", t("queue.accept"));
    b.type = "button";
    b.addEventListener("click", async () => {
      const ack = await ask("accept", { chat_id: item.chat_id });
      if (ack.error) { $("status").textContent = refusal(ack, "accept"); return; }
      adopt(ack.chat);
      showView("chats");
      inSight();
    });
    li.appendChild(b);
    list.appendChild(li);
  }
  if (items.length && onDuty && document.hidden === false) {
    $("status").textContent = items.some((item) => item.urgent) ? t("queue.urgent_request") : t("queue.new_request");
  }
}

export function renderRoster(items) {
  const select = $("transfer-to");
  select.replaceChildren();
  for (const r of items) if (!me || r.id !== me.id) {
    const o = el("option", r.pseudonym);
    o.value = r.id;
    select.appendChild(o);
  }
}

export function showDuty(on, message) {
  onDuty = on;
  $("duty").setAttribute("aria-pressed", String(onDuty));
  $("duty").textContent = onDuty ? t("duty.off") : t("duty.on");
  retitle();
  if (message) $("status").textContent = message;
}

$("duty").addEventListener("click", async () => {
  const ack = await ask("duty", { on: !onDuty });
  if (ack.error) { $("status").textContent = refusal(ack, "duty"); return; }
  showDuty(ack.on_duty, ack.on_duty ? t("duty.is_on") : t("duty.is_off"));
});
