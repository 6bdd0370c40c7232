// The demo page: event + mapping in, Lead / warnings / planned requests / Slack preview out, live.
// Every value shown comes from user input or the library, so it is only ever set as text
// (textContent, never innerHTML).

const START_COMMAND = "bash scripts/demo.sh --serve";
const DEBOUNCE_MS = 150;
// Placeholder settings for the plan: the requests look like a real client credentials setup.
const PLAN_SETTINGS = {
  clientId: "your-client-id",
  clientSecret: "your-client-secret",
  loginUrl: "https://yourdomain.my.salesforce.com",
  slackWebhookUrl: "https://hooks.slack.com/services/T000/B000/XXXX",
};

const $ = (id) => document.getElementById(id);
const ui = {
  loadStatus: $("load-status"),
  version: $("version"),
  sample: $("sample"),
  host: $("host"),
  event: $("event"),
  preset: $("preset"),
  mapping: $("mapping"),
  objectRadios: [...document.querySelectorAll('input[name="object"]')],
  results: $("results"),
  errors: $("errors"),
  errorList: $("error-list"),
  objectName: $("object-name"),
  leadStatus: $("lead-status"),
  lead: $("lead"),
  warnings: $("warnings"),
  planSummary: $("plan-summary"),
  requests: $("requests"),
  slack: $("slack"),
  run: $("run"),
  runHint: $("run-hint"),
  runStatus: $("run-status"),
  outcome: $("outcome"),
};

/** A DOM element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

const pretty = (v) => JSON.stringify(v, null, 2);

let lib = null; // the wasm module's exports
let presets = {};
let samples = [];
let emulator = null; // contents of /emulator.json when the demo server runs one
let lastGood = false; // whether the results on screen belong to the current input

// ---------------------------------------------------------------------------------- reading input

function currentObject() {
  return ui.objectRadios.find((r) => r.checked)?.value ?? "Lead";
}

/** Parse a textarea as JSON; a page-level error (code JSON_INVALID) naming the textarea if not. */
function readJson(textarea, what) {
  const text = textarea.value;
  if (!text.trim()) return { error: { code: "JSON_INVALID", message: `${what} is empty`, where: what } };
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { error: { code: "JSON_INVALID", message: `${what} is not valid JSON: ${e.message}`, where: what } };
  }
}

/** The library's error as a plain object (it throws JS Errors with code/field/position). */
function errorInfo(e, where) {
  if (e && typeof e === "object" && typeof e.code === "string") {
    return { code: e.code, message: String(e.message ?? ""), field: e.field, position: e.position, where };
  }
  // A trap (RuntimeError) or anything else the library did not mean to throw.
  return { code: "INTERNAL", message: `sf-lead-rule failed unexpectedly: ${e?.message ?? e}`, where };
}

// --------------------------------------------------------------------------------------- compute

function compute() {
  const errors = [];
  const ev = readJson(ui.event, "Event JSON");
  if (ev.error) errors.push(ev.error);
  const mp = readJson(ui.mapping, "Mapping");
  if (mp.error) errors.push(mp.error);
  const mapping = mp.value;
  if (!mp.error) {
    try {
      const problem = lib.checkMapping(mapping);
      if (problem) errors.push({ ...problem, where: "Mapping" });
    } catch (e) {
      errors.push(errorInfo(e, "Mapping"));
    }
  }
  if (errors.length) return { errors, mapping };

  const config = { host: ui.host.value, object: currentObject(), mapping };
  let lead = null;
  let plan = null;
  try {
    lead = lib.buildLead(ev.value, config);
  } catch (e) {
    errors.push(errorInfo(e, e?.code === "MAPPING_INVALID" ? "Mapping" : "Event JSON"));
  }
  try {
    plan = lib.planFirstLogin(ev.value, { ...config, ...PLAN_SETTINGS });
  } catch (e) {
    const info = errorInfo(e, "Plan");
    // The same problem as buildLead's is said once.
    if (!errors.some((x) => x.code === info.code && x.message === info.message)) errors.push(info);
  }
  return { errors, mapping, lead, plan };
}

// --------------------------------------------------------------------------------------- render

/** Where, in the mapping textarea's text, the expression of `field` starts (or -1). */
function expressionOffset(text, field) {
  const key = JSON.stringify(field);
  let from = 0;
  for (;;) {
    const at = text.indexOf(key, from);
    if (at < 0) return -1;
    const m = /^\s*:\s*"/.exec(text.slice(at + key.length));
    if (m) return at + key.length + m[0].length;
    from = at + key.length;
  }
}

/** Offset in the raw JSON string text of decoded character `pos` (code points), from `start`. */
function rawOffset(text, start, pos) {
  let i = start;
  for (let n = 0; n < pos && i < text.length && text[i] !== '"'; n++) {
    if (text[i] === "\\") i += text[i + 1] === "u" ? 6 : 2;
    else i += text.codePointAt(i) > 0xffff ? 2 : 1;
  }
  return i;
}

function selectInMapping(field, position) {
  const text = ui.mapping.value;
  const start = expressionOffset(text, field);
  if (start < 0) return;
  const at = rawOffset(text, start, position ?? 0);
  ui.mapping.focus();
  ui.mapping.setSelectionRange(at, Math.min(at + 1, text.length));
}

function renderError(err, mapping) {
  const li = el("li", { class: "error", "data-code": err.code, "data-field": err.field });
  const head = el("p", { class: "error-head" }, el("strong", { class: "code-name", text: err.code }));
  if (err.field) head.append(" in ", el("code", { class: "error-field", text: err.field }));
  else if (err.where) head.append(" in ", el("span", { text: err.where }));
  if (typeof err.position === "number") head.append(el("span", { class: "error-pos", text: ` at character ${err.position}` }));
  li.append(head, el("p", { class: "error-message", text: err.message }));

  const expr = err.field && mapping && typeof mapping === "object" ? mapping[err.field] : undefined;
  if (typeof expr === "string") {
    const chars = Array.from(expr);
    const pos = typeof err.position === "number" ? Math.max(0, Math.min(err.position, chars.length)) : null;
    const lines = [expr];
    if (pos !== null) lines.push(" ".repeat(pos) + "^");
    li.append(
      el("div", { class: "caret-box" }, el("pre", { class: "caret", "aria-label": `Expression of ${err.field}${pos !== null ? `, error at character ${pos}` : ""}`, text: lines.join("\n") })),
    );
    if (err.code === "MAPPING_INVALID") {
      const btn = el("button", { type: "button", class: "link", text: "Show in mapping" });
      btn.addEventListener("click", () => selectInMapping(err.field, err.position));
      li.append(btn);
    }
  }
  return li;
}

/** The host a request goes to, for its one-line summary (the whole text when it is not a URL). */
function hostOf(url) {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

function renderRequest(req) {
  const lines = [`${req.method} ${req.url}`];
  for (const [name, value] of Object.entries(req.headers ?? {})) lines.push(`${name}: ${value}`);
  if (req.body !== undefined && req.body !== null) lines.push("", typeof req.body === "string" ? req.body : pretty(req.body));
  return el(
    "li",
    { class: "request", "data-purpose": req.purpose },
    el("p", { class: "request-head" }, el("span", { class: "badge", text: req.purpose }), " ", el("code", { text: `${req.method} ${hostOf(req.url)}` })),
    el("pre", { class: "code", tabindex: "0", text: lines.join("\n") }),
  );
}

function render(result) {
  const { errors, mapping, lead, plan } = result;
  const objectName = currentObject();
  ui.objectName.textContent = objectName;

  ui.errorList.replaceChildren(...errors.map((e) => renderError(e, mapping)));
  ui.errors.hidden = errors.length === 0;
  ui.event.setAttribute("aria-invalid", String(errors.some((e) => e.where === "Event JSON")));
  ui.mapping.setAttribute("aria-invalid", String(errors.some((e) => e.where === "Mapping" || e.code === "MAPPING_INVALID")));

  if (errors.length || !lead) {
    // Keep the last good results visible for reference, but never as the current answer.
    ui.results.dataset.current = "false";
    ui.leadStatus.textContent = lastGood
      ? `Not current: the input has an error, so no ${objectName} can be built. Below is the last valid result.`
      : `No ${objectName}: the input has an error.`;
    if (!lastGood) {
      ui.lead.textContent = "—";
      ui.warnings.replaceChildren(el("li", { class: "none", text: "—" }));
      ui.requests.replaceChildren();
      ui.planSummary.textContent = "";
      ui.slack.textContent = "—";
    }
    return;
  }

  lastGood = true;
  ui.results.dataset.current = "true";
  ui.leadStatus.textContent = `${Object.keys(lead).length} fields, in mapping order.`;
  ui.lead.textContent = pretty(lead);

  const warnings = plan?.warnings ?? [];
  ui.warnings.replaceChildren(
    ...(warnings.length
      ? warnings.map((w) => el("li", { class: "warning", "data-code": w.code }, el("strong", { text: w.code }), " ", el("code", { text: w.field }), ": ", w.message))
      : [el("li", { class: "none", text: "None." })]),
  );

  if (plan) {
    // A plan simulates successful answers, so for `create` its reason reads as if it had happened.
    ui.planSummary.textContent =
      plan.action === "create" ? `Decision: create the ${objectName}, then notify Slack.` : `Decision: ${plan.action} — ${plan.reason}`;
    ui.requests.replaceChildren(...plan.requests.map(renderRequest));
    ui.slack.textContent = plan.slackPreview?.text ?? "No Slack message would be posted.";
  } else {
    ui.planSummary.textContent = "No plan (see the error above).";
    ui.requests.replaceChildren();
    ui.slack.textContent = "—";
  }
}

let timer = 0;
function update() {
  clearTimeout(timer);
  timer = 0;
  render(compute());
}
function scheduleUpdate() {
  clearTimeout(timer);
  timer = setTimeout(update, DEBOUNCE_MS);
}

// ------------------------------------------------------------------------------------ controls

function loadSample(index) {
  const s = samples[index];
  if (!s) return;
  ui.event.value = pretty(s.event);
  ui.host.value = s.host;
}

function loadPreset(name) {
  if (presets[name]) ui.mapping.value = pretty(presets[name]);
}

/** Show which preset the mapping text still equals, or "custom". */
function syncPresetSelect() {
  let parsed;
  try {
    parsed = JSON.stringify(JSON.parse(ui.mapping.value));
  } catch {
    parsed = null;
  }
  const match = Object.keys(presets).find((n) => JSON.stringify(presets[n]) === parsed);
  ui.preset.value = match ?? "";
}

async function findEmulator() {
  try {
    const res = await fetch("emulator.json", { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const info = await res.json();
    if (typeof info?.url !== "string" || typeof info?.slackWebhookUrl !== "string") throw new Error("unexpected emulator.json");
    emulator = info;
    ui.run.disabled = false;
    ui.runHint.textContent = `Emulator running at ${info.url}.`;
  } catch {
    emulator = null;
    ui.run.disabled = true;
    ui.runHint.textContent = "";
    ui.runHint.append("No local emulator found. Start with: ", el("code", { text: START_COMMAND }));
  }
}

async function runAgainstEmulator() {
  if (!emulator) return;
  update(); // use exactly what is on screen
  const ev = readJson(ui.event, "Event JSON");
  const mp = readJson(ui.mapping, "Mapping");
  ui.outcome.hidden = false;
  ui.outcome.removeAttribute("data-status");
  if (ev.error || mp.error) {
    ui.runStatus.textContent = "Fix the input first.";
    ui.outcome.textContent = (ev.error ?? mp.error).message;
    return;
  }
  const config = {
    host: ui.host.value,
    object: currentObject(),
    mapping: mp.value,
    clientId: emulator.clientId,
    clientSecret: emulator.clientSecret,
    loginUrl: emulator.url,
    slackWebhookUrl: emulator.slackWebhookUrl,
  };
  ui.run.disabled = true;
  ui.runStatus.textContent = "Running…";
  try {
    const outcome = await lib.onFirstLogin(ev.value, config);
    ui.outcome.dataset.status = outcome.status;
    ui.runStatus.textContent = `Outcome: ${outcome.status} — ${outcome.reason}`;
    ui.outcome.textContent = pretty(outcome);
  } catch (e) {
    const info = errorInfo(e, "Run");
    ui.outcome.dataset.status = "error";
    ui.runStatus.textContent = `Refused: ${info.code}`;
    ui.outcome.textContent = pretty({ code: info.code, message: info.message, field: info.field, position: info.position });
  } finally {
    ui.run.disabled = !emulator;
  }
}

// --------------------------------------------------------------------------------------- start

function failed(message) {
  ui.loadStatus.textContent = message;
  ui.loadStatus.classList.add("failed");
  document.documentElement.dataset.ready = "failed";
}

async function start() {
  const emulatorLookup = findEmulator();
  const samplesLoad = fetch("samples.json").then((r) => {
    if (!r.ok) throw new Error(`samples.json: HTTP ${r.status}`);
    return r.json();
  });
  let mod;
  try {
    mod = await import("./pkg/sf_lead_rule.js");
    await mod.default();
  } catch (e) {
    return failed(`Could not load the WebAssembly package (${e.message}). Build it first: bash scripts/build.sh`);
  }
  lib = mod;
  try {
    ui.version.textContent = `v${lib.version()}`;
    presets = lib.mappingPresets();
    samples = (await samplesLoad).samples;
  } catch (e) {
    return failed(`Could not start: ${e.message}`);
  }

  ui.sample.replaceChildren(...samples.map((s, i) => el("option", { value: String(i), text: s.label })));
  ui.preset.replaceChildren(
    ...Object.keys(presets).map((n) => el("option", { value: n, text: n })),
    el("option", { value: "", text: "(edited)", disabled: true }),
  );
  loadSample(0);
  ui.preset.value = presets.recommended ? "recommended" : Object.keys(presets)[0];
  loadPreset(ui.preset.value);

  ui.sample.addEventListener("change", () => {
    loadSample(Number(ui.sample.value));
    update();
  });
  ui.host.addEventListener("change", update);
  ui.preset.addEventListener("change", () => {
    loadPreset(ui.preset.value);
    update();
  });
  for (const r of ui.objectRadios) r.addEventListener("change", update);
  ui.event.addEventListener("input", scheduleUpdate);
  ui.mapping.addEventListener("input", () => {
    syncPresetSelect();
    scheduleUpdate();
  });
  ui.run.addEventListener("click", runAgainstEmulator);

  for (const c of [ui.sample, ui.host, ui.event, ui.preset, ui.mapping, ...ui.objectRadios]) c.disabled = false;
  update();
  await emulatorLookup;
  ui.loadStatus.textContent = "Ready.";
  document.documentElement.dataset.ready = "true";
}

start();
