// Erstkontakt embed script: adds a launcher button and opens the chat in an isolated iframe.
// Host and iframe talk only through versioned postMessage to the chat server's origin.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__erstkontakt) return;
  window.__erstkontakt = true;
  var origin = new URL(script.src).origin;
  var lang = (document.documentElement.lang || "de").slice(0, 2) === "en" ? "en" : "de";
  var label, closeLabel;
  // The launcher's words, in the host page's language first and then in the one the visitor
  // chose in the frame ("erstkontakt:lang").
  function speak(l) {
    lang = l === "en" ? "en" : "de";
    label = lang === "en" ? "Anonymous chat" : "Anonym chatten";
    closeLabel = lang === "en" ? "Close chat" : "Chat schließen";
    button.textContent = shown ? closeLabel : label;
    if (frame) frame.title = label;
  }
  var frame = null, shown = false, gone = false;
  var TAPS = 3, TAP_WINDOW_MS = 1500, taps = [], lone = false;

  var button = document.createElement("button");
  button.type = "button";
  speak(lang);
  button.setAttribute("aria-expanded", "false");
  var s = button.style;
  s.position = "fixed"; s.right = "1rem"; s.bottom = "1rem"; s.zIndex = "2147483646";
  s.padding = "0.8rem 1.2rem"; s.border = "0"; s.borderRadius = "2rem";
  s.background = "#1d4e89"; s.color = "#ffffff"; s.font = "600 1rem/1.2 system-ui, sans-serif";
  s.cursor = "pointer"; s.boxShadow = "0 2px 8px rgba(0,0,0,.3)";

  // The frame is made while the host page idles, hidden, so that the click only shows it
  // (docs/security.md, "The warmed frame"); "?warm" keeps it quiet (no availability rounds,
  // no resumed chat) until the launcher says it is shown.
  function make(warm) {
    frame = document.createElement("iframe");
    frame.src = origin + "/widget/frame?lang=" + lang + (warm ? "&warm=1" : "");
    frame.title = label;
    frame.setAttribute("referrerpolicy", "no-referrer");
    // Scripts and same-origin (its own socket and sessionStorage) are needed; forms for the
    // textarea; nothing else: no popups, no top navigation (the host page leaves on exit).
    frame.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms");
    // The clipboard only for the codename's copy button; no other permission.
    frame.setAttribute("allow", "clipboard-write");
    var f = frame.style;
    f.position = "fixed"; f.right = "1rem"; f.bottom = "4.5rem"; f.zIndex = "2147483647";
    f.width = "min(24rem, calc(100vw - 2rem))"; f.height = "min(36rem, calc(100vh - 6rem))";
    f.border = "1px solid #8a8a8a"; f.borderRadius = "0.5rem"; f.background = "#ffffff";
    conceal(true);
    // A message before the frame's scripts ran is lost: say it again once they have.
    frame.addEventListener("load", function () { if (shown) tell(); });
    document.body.appendChild(frame);
  }

  // Not rendered, so neither focusable nor in the accessibility tree; inert as well, which a
  // host stylesheet cannot override as it could the visibility.
  function conceal(on) {
    frame.style.visibility = on ? "hidden" : "visible";
    frame.inert = on;
  }

  function tell() {
    frame.contentWindow.postMessage({ v: 1, type: "erstkontakt:open" }, origin);
  }

  function warm() {
    if (!frame && !gone) make(true);
  }

  function warmWhenIdle() {
    var idle = window.requestIdleCallback || function (fn) { return setTimeout(fn, 1000); };
    idle(warm, { timeout: 3000 });
  }

  function open() {
    if (!frame) make(false);
    shown = true;
    conceal(false);
    tell();
    button.textContent = closeLabel;
    button.setAttribute("aria-expanded", "true");
    frame.focus();
  }

  function close() {
    if (frame) frame.remove();
    frame = null;
    shown = false;
    button.textContent = label;
    button.setAttribute("aria-expanded", "false");
    warmWhenIdle();
  }

  function leave(url) {
    if (!/^https?:\/\//.test(url)) url = "about:blank";
    gone = true;
    if (frame) frame.remove();
    window.location.replace(url);
  }

  button.addEventListener("click", function () { shown ? close() : open(); });

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !shown) return;
    var data = event.data;
    if (!data || data.v !== 1) return;
    if (data.type === "erstkontakt:exit") leave(String(data.url || ""));
    if (data.type === "erstkontakt:lang") speak(data.lang);
  });

  // Quick exit from the host page too, counted as in widget.js: three taps of Shift alone.
  function resetTaps() { lone = false; taps = []; }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Shift") return resetTaps();
    lone = !event.repeat && !event.ctrlKey && !event.altKey && !event.metaKey;
  }, true);
  document.addEventListener("keyup", function (event) {
    if (event.key !== "Shift") return resetTaps();
    if (!lone) return;
    lone = false;
    var now = performance.now();
    taps = taps.filter(function (at) { return now - at < TAP_WINDOW_MS; }).concat(now);
    if (taps.length < TAPS || !shown) return;
    taps = [];
    frame.contentWindow.postMessage({ v: 1, type: "erstkontakt:exit" }, origin);
  }, true);
  document.addEventListener("pointerdown", resetTaps, true);
  window.addEventListener("blur", resetTaps);

  function mount() { document.body.appendChild(button); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
  if (document.readyState === "complete") warmWhenIdle();
  else window.addEventListener("load", warmWhenIdle);
})();
