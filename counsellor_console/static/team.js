// The team view: the four counts, fetched again every few seconds. Text via textContent only.
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const EVERY_MS = 3000;

// A wait as m:ss (h:mm:ss past the hour).
function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds)), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? h + ":" + two(m) + ":" + two(s % 60) : m + ":" + two(s % 60);
}

async function refresh() {
  try {
    const res = await fetch("/console/api/team", { cache: "no-store" });
    if (!res.ok) throw new Error(String(res.status));
    const counts = await res.json();
    $("team-waiting").textContent = String(counts.waiting);
    $("team-longest").textContent = clock(counts.longest_wait_s);
    $("team-on-duty").textContent = String(counts.on_duty);
    $("team-active").textContent = String(counts.active);
    $("team-status").textContent = "";
  } catch {
    $("team-status").textContent = t("team.unavailable");
  }
}

setInterval(refresh, EVERY_MS);
