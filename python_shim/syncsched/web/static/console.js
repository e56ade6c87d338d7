// The syncsched console: live refresh, buttons that call the API, the integration form with its
// live cron preview, settings edits and bulk actions. No framework, no inline script (CSP).
"use strict";

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content ?? "";
const BASE = meta("base");

function flash(message, isError) {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = message;
  box.className = isError ? "flash error" : "flash";
  box.hidden = false;
  clearTimeout(flash.timer);
  flash.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": meta("csrf-token") },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = {};
  try { data = text ? JSON.parse(text) : {}; } catch { data = { error: { message: text } }; }
  if (!response.ok) {
    const error = new Error(data.error?.message || `HTTP ${response.status}`);
    error.hint = data.error?.hint;
    throw error;
  }
  return data;
}

// --- live: refresh the page's content when the database says something changed ---------------
let refreshing = null;
function busy() {
  const active = document.activeElement;
  return active && document.getElementById("content")?.contains(active) && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName);
}
async function refresh() {
  const content = document.getElementById("content");
  if (!content || content.dataset.live !== "1" || busy()) return;
  const response = await fetch(location.href, { headers: { "X-Fragment": "1" }, credentials: "same-origin" });
  if (response.ok) content.innerHTML = await response.text();
}
function soon() {
  clearTimeout(refreshing);
  refreshing = setTimeout(() => refresh().catch(() => {}), 700);
}
// What the page heard last (body data-heard: "claimed completed alerts ..."), and how it listens
// (body data-live: "events", or "poll" once the event stream failed): for people and for the tests.
function heard(data) {
  let change = {};
  try { change = JSON.parse(data); } catch { return; }
  const seen = (document.body.dataset.heard || "").split(" ").filter(Boolean);
  seen.push(change.what || change.channel);
  document.body.dataset.heard = seen.slice(-20).join(" ");
}
function live() {
  const content = document.getElementById("content");
  if (!content || content.dataset.live !== "1") return;
  let failures = 0;
  let poll = null;
  const fallback = () => {
    document.body.dataset.live = "poll";
    if (!poll) poll = setInterval(soon, 15000);
  };
  if (!window.EventSource) { fallback(); return; }
  document.body.dataset.live = "events";
  const source = new EventSource(BASE + "events");
  source.addEventListener("change", (event) => { failures = 0; heard(event.data); soon(); });
  source.onerror = () => { if (++failures >= 3) { source.close(); fallback(); } };
}

// --- buttons that call the API ------------------------------------------------------------------
document.addEventListener("click", async (event) => {
  const button = event.target.closest("[data-action], [data-bulk]");
  if (!button) return;
  event.preventDefault();
  if (button.dataset.bulk) return bulk(button);
  if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
  button.disabled = true;
  try {
    const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
    await api("POST", button.dataset.action, body);
    flash("Done.");
    await refresh();
  } catch (error) {
    flash(error.message + (error.hint ? ` (${error.hint})` : ""), true);
  } finally {
    button.disabled = false;
  }
});

async function bulk(button) {
  const count = Number(button.dataset.count);
  const action = button.dataset.bulk;
  const words = { disable: "Disable", enable: "Enable", run: "Run now", cancel: "Cancel pending runs" }[action];
  if (!window.confirm(`${words}: ${count} integration(s). Sure?`)) return;
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const name of ["q", "org", "type", "enabled", "status", "health"]) if (params.get(name)) filters[name] = params.get(name);
  try {
    const result = await api("POST", BASE + "api/v1/integrations/bulk", { action, expected_count: count, filters });
    const runs = result.runs === undefined ? "" : ` (${result.runs} run(s) cancelled)`;
    flash(`${words}: done for ${result.count} integration(s)${runs}.`);
    await refresh();
  } catch (error) {
    flash(error.message, true);
  }
}

// --- the integration form: live cron validation and preview, then create or change --------------
function preview() {
  const cron = document.getElementById("cron");
  const zone = document.getElementById("timezone");
  const box = document.getElementById("preview");
  if (!cron || !zone || !box) return;
  let timer = null;
  const check = async () => {
    if (!cron.value.trim()) { box.textContent = ""; box.className = "preview"; return; }
    const org = document.getElementById("org_id");
    const integration = document.getElementById("integration_id");
    const query = new URLSearchParams({ cron: cron.value, timezone: zone.value || "UTC" });
    if (org && integration && org.value && integration.value) {
      query.set("org", org.value);
      query.set("integration", integration.value);
    }
    try {
      const result = await api("GET", BASE + "api/v1/preview?" + query);
      const times = result.next.map((at) => new Date(at).toISOString().replace(":00.000Z", " UTC").replace("T", " "));
      box.className = result.problem ? "preview error" : "preview";
      if (result.problem) box.textContent = result.problem;
      else if (!times.length) box.textContent = "H resolves per integration: name the organization and the integration to preview it";
      else box.textContent = (result.resolved ? "Resolves to " + result.resolved + ". " : "") + "Next: " + times.join(", ");
    } catch (error) {
      box.className = "preview error";
      box.textContent = error.message;
    }
  };
  const later = () => { clearTimeout(timer); timer = setTimeout(check, 250); };
  for (const field of ["cron", "timezone", "org_id", "integration_id"]) {
    const input = document.getElementById(field);
    if (input) input.addEventListener("input", later);
  }
  check();
}

function integrationForm() {
  const form = document.getElementById("integration-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = document.getElementById("form-error");
    error.hidden = true;
    const values = Object.fromEntries(new FormData(form).entries());
    const body = {};
    for (const [name, value] of Object.entries(values)) {
      if (value === "") continue;
      body[name] = name === "interval_minutes" ? Number(value) : value;
    }
    if (body.payload !== undefined) {
      try { body.payload = JSON.parse(body.payload); } catch { error.textContent = "The payload is not JSON."; error.hidden = false; return; }
    }
    if (form.dataset.method === "PATCH" && body.cron_schedule === undefined && body.interval_minutes === undefined) {
      error.textContent = "Give a cron expression or an interval."; error.hidden = false; return;
    }
    try {
      const saved = await api(form.dataset.method, form.dataset.api, body);
      location.href = form.dataset.done + encodeURIComponent(saved.org_id) + "/" + encodeURIComponent(saved.integration_id);
    } catch (failure) {
      error.textContent = failure.message + (failure.hint ? ` (${failure.hint})` : "");
      error.hidden = false;
    }
  });
}

// --- settings -------------------------------------------------------------------------------------
document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form.setting");
  if (!form) return;
  event.preventDefault();
  const note = form.querySelector(".error");
  note.hidden = true;
  try {
    const result = await api("PATCH", form.dataset.api, { value: form.elements.value.value });
    form.elements.value.value = result.result.value;
    flash(`${form.dataset.key} is ${result.result.value}.`);
  } catch (error) {
    note.textContent = error.message;
    note.hidden = false;
  }
});

document.addEventListener("DOMContentLoaded", () => { live(); preview(); integrationForm(); });
