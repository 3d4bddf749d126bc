// The pure parts of the console's notifications (counsellor_console/static/notifications.js):
// the title and favicon counts, what counts as a chat in the background, and that a notice
// says no more than "new request" or "new message".
import { test } from "node:test";
import assert from "node:assert/strict";

const { SETTINGS, badgeText, inBackground, noticeKey, titleText } =
  await import("../../counsellor_console/static/notifications.js");

const BASE = "Erstkontakt – Beratungskonsole";

test("the title counts what is unread in front, and nothing when nothing is", () => {
  assert.equal(titleText(BASE, 0), BASE);
  assert.equal(titleText(BASE, 1), "(1) " + BASE);
  assert.equal(titleText(BASE, 3), "(3) " + BASE);
  assert.equal(titleText(BASE, 120), "(120) " + BASE);
  assert.equal(titleText(BASE, -1), BASE);
});

test("the favicon's badge says 1 to 9, then 9+, and nothing for none or nonsense", () => {
  assert.equal(badgeText(0), "");
  assert.equal(badgeText(-2), "");
  assert.equal(badgeText(Number.NaN), "");
  assert.equal(badgeText(undefined), "");
  assert.equal(badgeText(1), "1");
  assert.equal(badgeText(9), "9");
  assert.equal(badgeText(10), "9+");
  assert.equal(badgeText(1000), "9+");
});

test("a line is in the background in another chat, or in any while the page is hidden", () => {
  assert.equal(inBackground("a", "b", false), true);
  assert.equal(inBackground("a", "", false), true);
  assert.equal(inBackground("a", "a", false), false);
  assert.equal(inBackground("a", "a", true), true);
  assert.equal(inBackground("a", "b", true), true);
});

test("a notice is one of three fixed texts, whatever else is known", () => {
  assert.equal(noticeKey("request"), "notify.new_request");
  assert.equal(noticeKey("message", true), "notify.new_message_other");
  assert.equal(noticeKey("message", false), "notify.new_message");
  assert.equal(noticeKey.length, 2);
});

test("the settings are the four the server keeps, in the order shown", () => {
  assert.deepEqual(SETTINGS, ["request_sound", "request_notice", "message_sound", "message_notice"]);
});

// A page just big enough for createNotifications: elements, a hidden flag, fetch answered by
// the test, notices and tones recorded.
function fakePage({ saved = {}, refuse = false } = {}) {
  const listeners = {};
  const element = (tag) => {
    const node = {
      tag, children: [], attributes: {}, textContent: "", checked: false, disabled: false,
      handlers: {},
      append(...kids) { for (const kid of kids) node.children.push(kid); },
      appendChild(kid) { node.children.push(kid); return kid; },
      replaceChildren(...kids) { node.children = kids; },
      setAttribute(name, value) { node.attributes[name] = value; },
      addEventListener(type, fn) { node.handlers[type] = fn; },
      getContext: () => new Proxy({}, { get: () => () => {} }),
      toBlob(done) { done({ png: true }); },
    };
    return node;
  };
  const doc = {
    hidden: false, title: "",
    head: element("head"),
    createElement: element,
    querySelector: () => null,
    addEventListener(type, fn) { (listeners[type] ||= []).push(fn); },
  };
  const page = { requests: [], notices: [], tones: 0, urls: 0 };
  const win = {
    document: doc,
    focus() {},
    URL: { createObjectURL: () => "blob:" + ++page.urls, revokeObjectURL() {} },
    async fetch(url, options = {}) {
      page.requests.push({ url, method: options.method || "GET", body: options.body });
      if (options.method === "PUT") {
        return refuse ? { ok: false, status: 400 } : { ok: true, status: 200, json: async () => JSON.parse(options.body) };
      }
      return { ok: true, status: 200, json: async () => ({ ...Object.fromEntries(SETTINGS.map((n) => [n, false])), ...saved }) };
    },
    Notification: class {
      static permission = "granted";
      constructor(title, options) { page.notices.push({ title, ...options }); }
    },
    AudioContext: class {
      state = "running";
      currentTime = 0;
      destination = {};
      resume() { return Promise.resolve(); }
      createGain() { return { gain: {}, connect: (next) => next }; }
      createOscillator() {
        return { frequency: {}, connect: (next) => next, start: () => { page.tones += 1; }, stop() {} };
      }
    },
  };
  page.win = win;
  page.doc = doc;
  page.fire = (type) => { for (const fn of listeners[type] || []) fn(); };
  return page;
}

const t = (key, vars) => "«" + key + (vars ? " " + JSON.stringify(vars) : "") + "»";
const settle = () => new Promise((resolve) => setImmediate(resolve));
const { createNotifications } = await import("../../counsellor_console/static/notifications.js");

function boxesOf(container) {
  const fieldset = container.children[0];
  return Object.fromEntries(fieldset.children.filter((n) => n.tag === "label")
    .map((label) => [label.children[0].id, label.children[0]]));
}

test("a line in another chat, or in the shown one while hidden, rings and notices as chosen", async () => {
  const page = fakePage({ saved: { message_sound: true, message_notice: true } });
  const container = page.doc.createElement("div");
  const notes = createNotifications({ t, container, base: "Konsole", csrf: "tok", win: page.win });
  await settle();
  page.fire("pointerdown");
  notes.message("a", "a");
  assert.equal(page.tones, 0);
  assert.equal(page.notices.length, 0);
  notes.message("b", "a");
  assert.equal(page.tones, 1);
  assert.deepEqual(page.notices.map((n) => [n.title, n.body]), [["«notify.title»", "«notify.new_message_other»"]]);
  // Hidden: the shown chat is in the background too, and counts in the title until seen.
  notes.count(1);
  page.doc.hidden = true;
  notes.message("a", "a");
  assert.equal(page.tones, 2);
  assert.equal(page.notices.at(-1).body, "«notify.new_message»");
  assert.equal(page.doc.title, "(2) Konsole");
  page.doc.hidden = false;
  page.fire("visibilitychange");
  assert.equal(page.doc.title, "(1) Konsole");
  // Requests ring only when chosen.
  notes.request();
  assert.equal(page.tones, 2);
  assert.equal(page.notices.length, 2);
});

test("a change is saved whole with the token, and a refused one is said and undone", async () => {
  const page = fakePage();
  const container = page.doc.createElement("div");
  createNotifications({ t, container, base: "Konsole", csrf: "tok", win: page.win });
  await settle();
  const boxes = boxesOf(container);
  assert.deepEqual(Object.keys(boxes), ["notify-request-sound", "notify-request-notice", "notify-message-sound", "notify-message-notice"]);
  assert.ok(Object.values(boxes).every((box) => !box.disabled && !box.checked));
  boxes["notify-request-sound"].checked = true;
  await boxes["notify-request-sound"].handlers.change();
  const put = page.requests.at(-1);
  assert.equal(put.method, "PUT");
  assert.deepEqual(JSON.parse(put.body), { request_sound: true, request_notice: false, message_sound: false, message_notice: false });
  const status = container.children[0].children.at(-1);
  assert.equal(status.textContent, "«notify.saved»");

  const refusing = fakePage({ refuse: true });
  const other = refusing.doc.createElement("div");
  createNotifications({ t, container: other, base: "Konsole", csrf: "tok", win: refusing.win });
  await settle();
  const box = boxesOf(other)["notify-message-notice"];
  box.checked = true;
  await box.handlers.change();
  assert.equal(box.checked, false);
  assert.equal(other.children[0].children.at(-1).textContent, '«notify.save_failed {"status":400}»');
});

test("the title and the favicon follow the count; the favicon is drawn anew only when its badge changes", async () => {
  const page = fakePage();
  const notes = createNotifications({ t, container: page.doc.createElement("div"), base: "Konsole", csrf: "tok", win: page.win });
  const link = page.doc.head.children[0];
  assert.equal(link.rel, "icon");
  assert.equal(link.href, "blob:1");
  notes.count(3);
  assert.equal(page.doc.title, "(3) Konsole");
  assert.equal(link.href, "blob:2");
  notes.count(12);
  notes.count(15);
  assert.equal(link.href, "blob:3");
  notes.count(0);
  assert.equal(page.doc.title, "Konsole");
  assert.equal(link.href, "blob:4");
});
