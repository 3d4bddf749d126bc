// The console's notifications (docs/console.md, "Notifications"): a short tone and a desktop
// notice for a new request and for a new line in a chat in the background (not the one shown,
// or any while the console's tab is hidden), each chosen per counsellor and kept on the server
// (/console/api/settings), never in this browser; and what is unread, counted in the page
// title and on the favicon.
//
// Nothing of a chat or a visitor leaves the page this way: a notice says only "new request" or
// "new message", the title and the favicon only a number. The tone is made here (WebAudio, no
// audio file); the favicon is drawn on a canvas and shown as a blob: URL (the workspace's CSP
// allows blob: images, nothing else). Every word comes from the caller's t(key, vars); text
// reaches the DOM only via textContent.

// The settings as the server keeps them, in the order they are shown.
export const SETTINGS = ["request_sound", "request_notice", "message_sound", "message_notice"];
const SIZE = 32;

/** The page title with `count` unread in front: "(3) Erstkontakt – Beratungskonsole". */
export function titleText(base, count) {
  return count > 0 ? "(" + count + ") " + base : base;
}

/** What the favicon's badge says for `count`: nothing, 1 to 9, or "9+" (32 pixels are few). */
export function badgeText(count) {
  if (!Number.isFinite(count) || count < 1) return "";
  return count > 9 ? "9+" : String(Math.floor(count));
}

/** Whether a line in chat `chatId` arrives in the background: another chat than the one shown
 * (`shownId`), or any while the page is hidden. */
export function inBackground(chatId, shownId, hidden) {
  return Boolean(hidden) || chatId !== shownId;
}

/** The text key of a notice: for a request, or a message in another chat or in the one shown
 * (the page is hidden then). A notice never says more than these. */
export function noticeKey(kind, otherChat) {
  if (kind === "request") return "notify.new_request";
  return otherChat ? "notify.new_message_other" : "notify.new_message";
}

/** Draw the console's icon on `canvas` (32×32): a speech bubble, with a red badge that says
 * `badgeText(count)` when anything is unread. The same count always draws the same picture. */
export function drawFavicon(canvas, count) {
  canvas.width = SIZE;
  canvas.height = SIZE;
  const g = canvas.getContext("2d");
  // Square corners where a browser cannot round them yet.
  const box = (x, y, w, h, r) => (g.roundRect ? g.roundRect(x, y, w, h, r) : g.rect(x, y, w, h));
  g.clearRect(0, 0, SIZE, SIZE);
  g.fillStyle = "#1d4e89";
  g.beginPath();
  box(0, 0, SIZE, SIZE, 6);
  g.fill();
  g.fillStyle = "#ffffff";
  g.beginPath();
  box(5, 7, 22, 14, 4);
  g.moveTo(9, 20);
  g.lineTo(9, 27);
  g.lineTo(16, 20);
  g.fill();
  const text = badgeText(count);
  if (!text) return;
  g.fillStyle = "#c4161c";
  g.beginPath();
  g.arc(SIZE - 10, 10, 10, 0, 2 * Math.PI);
  g.fill();
  g.fillStyle = "#ffffff";
  g.font = "bold " + (text.length > 1 ? 12 : 15) + "px sans-serif";
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(text, SIZE - 10, 11);
}

/**
 * The notifications of one console page. `container`: where the settings are shown; `base`:
 * the page title without a count; `csrf`: the session's token for saving; `t(key, vars)`:
 * every word. Returns { count(n), request(), message(chatId, shownId, onOpen) }.
 */
export function createNotifications({ t, container, base, csrf, win = window }) {
  const doc = win.document;
  const chosen = Object.fromEntries(SETTINGS.map((name) => [name, false]));
  const boxes = {};
  let audio = null, counted = 0, unseen = 0;

  // The settings: a fieldset of four checkboxes and a line that says what became of a change.
  const fieldset = doc.createElement("fieldset");
  fieldset.id = "notify-fieldset";
  const legend = doc.createElement("legend");
  legend.textContent = t("notify.legend");
  fieldset.appendChild(legend);
  for (const name of SETTINGS) {
    const label = doc.createElement("label"), box = doc.createElement("input");
    box.type = "checkbox";
    box.id = "notify-" + name.replace("_", "-");
    box.disabled = true;
    box.addEventListener("change", () => change(name, box.checked));
    label.append(box, " " + t("notify." + name));
    fieldset.appendChild(label);
    boxes[name] = box;
  }
  const status = doc.createElement("p");
  status.id = "notify-status";
  status.setAttribute("role", "status");
  fieldset.appendChild(status);
  container.replaceChildren(fieldset);

  const say = (key, vars) => { status.textContent = key ? t(key, vars) : ""; };
  const permission = () => (win.Notification ? win.Notification.permission : "unsupported");

  // What the browser allows for notices, said beside the settings when a notice is chosen.
  function explain() {
    if (!chosen.request_notice && !chosen.message_notice) return;
    if (permission() === "unsupported") say("notify.unsupported");
    else if (permission() === "denied") say("notify.blocked");
  }

  async function load() {
    let res;
    try { res = await win.fetch("/console/api/settings"); } catch { res = { ok: false, status: 0 }; }
    if (!res.ok) { say("notify.load_failed", { status: res.status }); return; }
    const got = await res.json();
    for (const name of SETTINGS) {
      chosen[name] = got[name] === true;
      boxes[name].checked = chosen[name];
      boxes[name].disabled = false;
    }
    explain();
  }

  // A change is saved at once; a refusal is said and the box shows what is kept.
  async function change(name, on) {
    const next = { ...chosen, [name]: on };
    if (on && name.endsWith("_sound")) tone(false);
    if (on && name.endsWith("_notice") && permission() === "default") {
      await win.Notification.requestPermission().catch(() => {});
    }
    let res;
    try {
      res = await win.fetch("/console/api/settings", {
        method: "PUT", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(next),
      });
    } catch { res = { ok: false, status: 0 }; }
    if (!res.ok) {
      boxes[name].checked = chosen[name];
      say("notify.save_failed", { status: res.status });
      return;
    }
    Object.assign(chosen, await res.json());
    for (const key of SETTINGS) boxes[key].checked = chosen[key];
    say("notify.saved");
    explain();
  }

  // Browsers let a page make sound only after the person did something in it: the audio
  // starts with the first click or key, and a notice asks for permission then if it must.
  function tone(play) {
    const Audio = win.AudioContext || win.webkitAudioContext;
    if (!Audio) return;
    if (!audio) { try { audio = new Audio(); } catch { return; } }
    if (audio.state !== "running") { audio.resume().catch(() => {}); return; }
    if (!play) return;
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.frequency.value = 660;
    gain.gain.value = 0.25;
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.2);
  }
  function woken() {
    tone(false);
    if ((chosen.request_notice || chosen.message_notice) && permission() === "default") {
      win.Notification.requestPermission().then(explain, () => {});
    }
  }
  for (const type of ["pointerdown", "keydown"]) doc.addEventListener(type, woken, { capture: true });

  function notice(key, onOpen) {
    if (permission() !== "granted") return;
    try {
      // One notice per kind at a time (the tag replaces the last); silent: the tone is ours.
      const shown = new win.Notification(t("notify.title"), {
        body: t(key), tag: key, silent: true,
      });
      shown.onclick = () => { win.focus(); shown.close(); if (onOpen) onOpen(); };
    } catch { /* a browser that shows notices only from a service worker */ }
  }

  // The favicon shows the same count as the title; drawn anew only when its badge changes.
  let link = doc.querySelector('link[rel="icon"]'), badge = null, drawn = 0, url = "";
  if (!link) {
    link = doc.createElement("link");
    link.rel = "icon";
    doc.head.appendChild(link);
  }
  link.type = "image/png";
  function favicon(count) {
    if (badgeText(count) === badge) return;
    badge = badgeText(count);
    const canvas = doc.createElement("canvas"), at = ++drawn;
    drawFavicon(canvas, count);
    canvas.toBlob((blob) => {
      if (!blob || at !== drawn) return;
      const old = url;
      url = win.URL.createObjectURL(blob);
      link.href = url;
      if (old) win.URL.revokeObjectURL(old);
    }, "image/png");
  }

  function show() {
    const total = counted + unseen;
    doc.title = titleText(base, total);
    favicon(total);
  }
  // Lines that came into the chat shown while the page was hidden count until it is seen.
  doc.addEventListener("visibilitychange", () => {
    if (doc.hidden || !unseen) return;
    unseen = 0;
    show();
  });

  show();
  load();
  return {
    /** Unread lines in other chats and waiting requests, as the console counts them. */
    count(n) { counted = n; show(); },
    /** A new request arrived. */
    request() {
      if (chosen.request_sound) tone(true);
      if (chosen.request_notice) notice(noticeKey("request"));
    },
    /** A line from a visitor arrived in chat `chatId` while `shownId` is shown; `onOpen` shows
     * its chat (a click on the notice). */
    message(chatId, shownId, onOpen) {
      if (!inBackground(chatId, shownId, doc.hidden)) return;
      const otherChat = chatId !== shownId;
      if (!otherChat) { unseen += 1; show(); }
      if (chosen.message_sound) tone(true);
      if (chosen.message_notice) notice(noticeKey("message", otherChat), onOpen);
    },
  };
}
