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
