// The widget's offline half, loaded on demand (widget.js lazy("offline"); docs/benchmarks.md,
// "Widget weight"): withdrawing a consent, the reading code and reading one's own record, the
// "Sicher schreiben" guide, and the lines a reload kept (messages and office hours are in
// messages.js).
// `page` is what it uses of the chat page (widget.js `page`); e2e-keys.js comes through it.
import * as e2e from "./e2e.js";

/** Withdraw the consent behind the codename typed (after the visitor confirmed). */
export async function withdraw(page) {
  const { $, t } = page;
  $("withdraw-confirm").hidden = true;
  // The words only: the reading code stays here.
  const codename = (await page.keys()).codenameWords($("codename").value.trim());
  if (!codename) { $("return-status").textContent = page.t("return_unknown"); return; }
  page.connect(async () => {
    const ack = await page.paid("withdraw", { codename });
    $("return-status").textContent = ack.error ? t("return_unknown") : t("withdrawn");
    page.wipe();
  });
}

/** At the visitor's yes: a reading code made here (shown after the codename's words, never
 * sent) and the public key of its key pair, which goes to the console inside the chat, so that
 * it seals the visitor's own copy of the record to it (docs/protocol.md, "Continuity"). */
export async function reader(page) {
  const sealing = await page.keys(), code = sealing.generateReaderCode();
  page.code = " " + code;
  return e2e.b64encode(sealing.readerKeys(code.replace(/-/g, "")).pk);
}

/** Read one's own record: the codename's words find it, the reading code opens the copies. */
export async function readRecord(page) {
  const { $ } = page;
  const sealing = await page.keys(), typed = $("codename").value.trim();
  const { code } = sealing.splitCodename(typed), words = sealing.codenameWords(typed);
  const text = (await texts(page)).record;
  if (!code || !words) { $("return-status").textContent = text.code; return; }
  page.connect(async () => {
    const ack = await page.paid("record_read", { codename: words });
    page.wipe();
    let view = $("record-read");
    if (!view) {
      view = document.createElement("ol");
      Object.assign(view, { id: "record-read", className: "log", tabIndex: -1 });
      $("return-status").after(view);
    }
    view.replaceChildren();
    const keys = sealing.readerKeys(code);
    for (const body of ack.error ? [] : [ack.body, ...ack.entries.map((e) => e.body)]) {
      try {
        const { lines } = JSON.parse(e2e.fromUtf8(sealing.unpad(sealing.openSealed(keys.sk, keys.pk, e2e.b64decode(body)))));
        // The console's "me" is the counsellor: here the visitor's own lines are "me".
        for (const [who, line] of lines) view.append(Object.assign(document.createElement("li"), { className: who === "me" ? "them" : "me", textContent: String(line) }));
      } catch { /* an empty or foreign copy shows nothing */ }
    }
    keys.sk.fill(0);
    $("return-status").textContent = ack.error ? page.t("return_unknown") : view.childElementCount ? text.title : text.none;
    view.focus();
  });
}

// "Sicher schreiben": long texts, so their catalog (guide-de.json, guide-en.json) is fetched,
// checked against its SRI hash, only when the guide first opens in a language. It also holds
// the texts of reading one's record (`record`), which only this module shows.
const guides = {};

async function texts(page) {
  const l = page.lang, key = l === "en" ? "guideEn" : "guide";
  guides[l] = guides[l] || await (await fetch(page.data[key + "Src"], { integrity: page.data[key + "Sri"] })).json();
  return guides[l];
}

/** Fill the open guide panel in the page's language. */
export async function fillGuide(page) {
  const { $, t } = page;
  const l = page.lang;
  try { await texts(page); } catch { $("guide-body").textContent = t("guide_failed"); return; }
  if (l !== page.lang || $("guide").hidden) return;
  const g = guides[l], fill = (s) => s.replace("{days}", page.vars.days);
  const node = (tag, text) => { const n = document.createElement(tag); n.textContent = text; return n; };
  const easy = document.createElement("section");
  easy.lang = "de";
  easy.append(node("h3", g.easy_title), ...g.easy.map((s) => node("p", s)));
  const parts = g.sections.map(([title, text]) => {
    const part = document.createElement("section");
    part.append(node("h3", title), node("p", fill(text)));
    return part;
  });
  $("guide-body").replaceChildren(easy, ...parts);
}

/** The lines a reload kept (widget.js restore): mine still unsent go again, those sent wait
 * for their receipt. */
export function restoreLines(page, log) {
  for (const l of Array.isArray(log) ? log : []) {
    const item = page.line(String(l.cls), String(l.text));
    if (l.mark) page.mark(item, String(l.mark));
    if (l.state === "queued" && typeof l.ct === "string") {
      Object.assign(item, { ct: l.ct, state: "queued" });
      page.outbox.push(l.ct, item);
    } else if (l.state === "sent" && Number.isInteger(l.seq)) {
      Object.assign(item, { seq: l.seq, state: "sent" });
      page.waitingLines.set(l.seq, item);
    } else if (l.state) item.state = l.state;
  }
}
