// Erstkontakt embed script: adds a launcher button and opens the chat in an isolated iframe.
// Host and iframe talk only through versioned postMessage to the chat server's origin.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__erstkontakt) return;
  window.__erstkontakt = true;
  var origin = new URL(script.src).origin;
  var lang = (document.documentElement.lang || "de").slice(0, 2) === "en" ? "en" : "de";
  var label = lang === "en" ? "Anonymous chat" : "Anonym chatten";
  var closeLabel = lang === "en" ? "Close chat" : "Chat schließen";
  var frame = null;
  var TAPS = 3, TAP_WINDOW_MS = 1500, taps = [], lone = false;

  var button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.setAttribute("aria-expanded", "false");
  var s = button.style;
  s.position = "fixed"; s.right = "1rem"; s.bottom = "1rem"; s.zIndex = "2147483646";
  s.padding = "0.8rem 1.2rem"; s.border = "0"; s.borderRadius = "2rem";
  s.background = "#1d4e89"; s.color = "#ffffff"; s.font = "600 1rem/1.2 system-ui, sans-serif";
  s.cursor = "pointer"; s.boxShadow = "0 2px 8px rgba(0,0,0,.3)";

  function open() {
    frame = document.createElement("iframe");
    frame.src = origin + "/widget/frame?lang=" + lang;
    frame.title = label;
    frame.setAttribute("referrerpolicy", "no-referrer");
    // Scripts and same-origin (its own socket and sessionStorage) are needed; forms for the
    // textarea; nothing else: no popups, no top navigation (the host page leaves on exit).
    frame.setAttribute("sandbox", "allow-scripts allow-same-origin allow-forms");
    frame.setAttribute("allow", "");
    var f = frame.style;
    f.position = "fixed"; f.right = "1rem"; f.bottom = "4.5rem"; f.zIndex = "2147483647";
    f.width = "min(24rem, calc(100vw - 2rem))"; f.height = "min(36rem, calc(100vh - 6rem))";
    f.border = "1px solid #8a8a8a"; f.borderRadius = "0.5rem"; f.background = "#ffffff";
    document.body.appendChild(frame);
    button.textContent = closeLabel;
    button.setAttribute("aria-expanded", "true");
    frame.focus();
  }

  function close() {
    if (frame) frame.remove();
    frame = null;
    button.textContent = label;
    button.setAttribute("aria-expanded", "false");
  }

  function leave(url) {
    if (!/^https?:\/\//.test(url)) url = "about:blank";
    if (frame) frame.remove();
    window.location.replace(url);
  }

  button.addEventListener("click", function () { frame ? close() : open(); });

  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !frame) return;
    var data = event.data;
    if (!data || data.v !== 1) return;
    if (data.type === "erstkontakt:exit") leave(String(data.url || ""));
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
    if (taps.length < TAPS || !frame) return;
    taps = [];
    frame.contentWindow.postMessage({ v: 1, type: "erstkontakt:exit" }, origin);
  }, true);
  document.addEventListener("pointerdown", resetTaps, true);
  window.addEventListener("blur", resetTaps);

  function mount() { document.body.appendChild(button); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
