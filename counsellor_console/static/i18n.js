// What the console's pages say, in the one language the page is in: its catalog
// (counsellor_console/i18n/console.<lang>.json, flat keys with {name} placeholders, the scheme
// of the widget's t()), an asset the page names with its integrity (body data-i18n), so that
// neither an inline script nor the page's markup carries it.
const named = document.body.dataset;

async function load() {
  try {
    const res = await fetch(named.i18n, { integrity: named.i18nIntegrity });
    if (res.ok) return await res.json();
  } catch { /* said below: the keys show instead of the words */ }
  return {};
}
const catalog = named.i18n ? await load() : {};

// The page's language, for dates and times too.
export const lang = document.documentElement.lang === "en" ? "en" : "de";
export const locale = lang === "en" ? "en-GB" : "de-DE";

export function t(key, vars = {}) {
  let text = Object.hasOwn(catalog, key) ? catalog[key] : key;
  for (const [name, value] of Object.entries(vars)) text = text.replaceAll("{" + name + "}", String(value));
  return text;
}
