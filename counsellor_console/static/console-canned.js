// The team's canned replies: their view (add, change, delete) and the composer's list, which
// "/" in the empty message field opens by keyboard.
import { $, badge, confirmFirst, csrf, el } from "./console-page.js";
import { t } from "./console-i18n.js";

// The team's canned replies: in the composer's list and, with edit and delete, in their view.
let cannedEditing = "";
function showCanned(items) {
  const pick = $("canned"), list = $("canned-list");
  pick.replaceChildren(el("option", "–"));
  pick.firstChild.value = "";
  list.replaceChildren();
  for (const item of items) {
    const o = el("option", item.title);
    o.value = item.body;
    pick.appendChild(o);
    const edit = el("button", t("canned.edit")), drop = el("button", t("canned.delete"));
    edit.type = drop.type = "button";
    edit.setAttribute("aria-label", t("canned.edit_named", { title: item.title }));
    drop.setAttribute("aria-label", t("canned.delete_named", { title: item.title }));
    edit.addEventListener("click", () => {
      cannedEditing = item.id;
      $("canned-title").value = item.title;
      $("canned-body").value = item.body;
      $("canned-save").textContent = t("canned.save");
      $("canned-title").focus();
    });
    drop.addEventListener("click", async () => {
      if (!await confirmFirst(t("canned.delete_q"), item.title, t("canned.delete_yes"))) return;
      await cannedRequest("DELETE", item.id, null, t("canned.deleted"));
    });
    const li = el("li");
    li.append(el("strong", item.title), el("p", item.body), edit, drop);
    list.appendChild(li);
  }
  $("count-canned").replaceChildren(badge(items.length));
}

export async function loadCanned() {
  const res = await fetch("/console/api/canned");
  if (!res.ok) return;
  showCanned((await res.json()).items);
}

// Add (no id), change or delete a canned reply; the list is read again afterwards, and a
// refusal is said, never swallowed.
async function cannedRequest(method, id, body, done) {
  const res = await fetch("/console/api/canned" + (id ? "/" + id : ""), {
    method, headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!res.ok) {
    $("status").textContent = t("canned.not_saved", { status: res.status });
    return false;
  }
  $("status").textContent = done;
  await loadCanned();
  return true;
}

$("canned-new").addEventListener("submit", async (e) => {
  e.preventDefault();
  const title = $("canned-title").value.trim(), body = $("canned-body").value.trim();
  if (!title || !body) return;
  const saved = cannedEditing
    ? await cannedRequest("PUT", cannedEditing, { title, body }, t("canned.changed"))
    : await cannedRequest("POST", "", { title, body }, t("canned.added"));
  if (!saved) return;
  cannedEditing = "";
  $("canned-title").value = ""; $("canned-body").value = "";
  $("canned-save").textContent = t("canned.add");
});

// A canned reply by keyboard: "/" in the empty message field goes to the list, the arrow keys
// put each reply into the field, Enter or Escape goes back to it (to edit, then send).
$("canned").addEventListener("change", (e) => { if (e.target.value) $("text").value = e.target.value; });
$("canned").addEventListener("keydown", (e) => {
  if (e.key !== "Enter" && e.key !== "Escape") return;
  e.preventDefault();
  $("canned").value = "";
  $("text").focus();
});
$("text").addEventListener("keydown", (e) => {
  if (e.key === "/" && !$("text").value && !$("canned").disabled) { e.preventDefault(); $("canned").focus(); }
});
