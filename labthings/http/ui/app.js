// The labthings web page: every Thing (live properties, recent events, action forms) and the
// tasks (live progress, log, output, cancel). Server data only ever goes into textContent,
// values and attributes, never into HTML. A server that needs an access token gets the
// session's (token.js), or the page asks for one.

import { askForToken, authorization, withToken } from "./token.js";

const root = new URL("../", location.href); // the page is served at <root>/ui/
const TASK_LIMIT = 50;
const EVENT_LIMIT = 5; // Thing events shown per Thing
// One event stream (GET /events) brings task updates, property changes and Thing events:
// a browser opens at most 6 HTTP/1.1 connections per host, and a stream holds one for good.
// Computed read-only properties may change without telling: re-read every POLL_MS (ETag,
// cheap 304s) while the page is visible, and a Thing's properties REFRESH_MS after a task.
const POLL_MS = 5000;
const REFRESH_MS = 300;
const RETRY_MS = 5000;
const FINISHED = new Set(["completed", "cancelled", "error"]);
const calm = matchMedia("(prefers-reduced-motion: reduce)");

const tasks = new Map(); // id -> {record, el, cancelling}
const viewsByThing = new Map(); // thing name -> [property view]
const eventLists = new Map(); // thing name -> its <ol> of recent events
let live = false; // the event stream is connected, so the server is up
let quiet = true; // no announcements while (re)loading the task list

const $ = (selector, scope = document) => scope.querySelector(selector);
const clone = (id) => document.getElementById(id).content.firstElementChild.cloneNode(true);
const url = (path, base = root) => new URL(path, base);

function el(tag, props = {}, ...children) {
  const element = Object.assign(document.createElement(tag), props);
  element.append(...children);
  return element;
}

/** An error reply: `message` is the problem's detail, `fields` its per-field messages. */
class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.fields = Object.entries(problem?.errors || {})
      .map(([field, messages]) => [field, [].concat(messages).map(fmt).join(" ")]);
  }

  get text() {
    return [this.message, ...this.fields.map(([f, m]) => `${f}: ${m}`)].join("\n");
  }
}

/** A JSON request; resolves to the reply's value, rejects with an ApiError. */
async function api(target, { method = "GET", body, headers = {} } = {}) {
  headers = { Accept: "application/json", ...authorization(), ...headers };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  // no-cache: always revalidate, so an unchanged value costs a 304 (the ETag) and no body
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const response = await fetch(target, { method, headers, cache: "no-cache", body: payload });
  const data = await response.json().catch(() => null);
  if (response.status === 401) askForToken();
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function fmt(value) {
  if (typeof value === "string") return value;
  if (value === undefined) return "";
  if (Array.isArray(value) && value.every((v) => v === null || typeof v !== "object")) {
    return `[${value.map((v) => JSON.stringify(v)).join(", ")}]`;
  }
  return JSON.stringify(value, null, 2);
}

/** A value short enough to read at a glance: long lists show their ends and length. */
function brief(value) {
  if (!Array.isArray(value) || value.length <= 12) return fmt(value);
  return `${fmt(value.slice(0, 6)).slice(0, -1)}, …, ${fmt(value.at(-1))}] (${value.length} values)`;
}

/** Text with line-break opportunities after "_" and ".", for long Python names. */
function breakable(text) {
  return String(text).split(/(?<=[_.])/).flatMap((part, i) => (i ? [el("wbr"), part] : [part]));
}

function describe(s, ...more) {
  const parts = [s.type === "array" && s.items?.type ? `list of ${s.items.type}` : s.type];
  const [min, max] = [s.minimum, s.maximum].map((n) => (Math.abs(n) < 2 ** 31 - 1 ? n : undefined));
  if (min !== undefined && max !== undefined) parts.push(`${min} to ${max}`); // not int32's bounds
  else if (min !== undefined) parts.push(`≥ ${min}`);
  else if (max !== undefined) parts.push(`≤ ${max}`);
  return [parts.concat(s.unit || []).filter(Boolean).join(", "), ...more, s.description]
    .filter(Boolean).join(" · ");
}

function formUrl(affordance, op, base) {
  const forms = (affordance.forms || []).filter((f) => [].concat(f.op).includes(op));
  // An action's form answering with an invocation record (to follow live), not the
  // synchronous one answering with the output alone.
  const form = forms.find((f) => (f.additionalResponses || []).some((r) => r.schema === "invocation"))
    || forms[0];
  return form ? url(form.href, base) : null;
}

function showMessage(element, text, isError, control) {
  element.textContent = text;
  element.classList.toggle("error", Boolean(isError && text));
  if (control && isError && text) control.setAttribute("aria-invalid", "true");
  else if (control) control.removeAttribute("aria-invalid");
}

// --- Inputs generated from a JSON schema (property values and action arguments) ---

function inputFor(schema, id) {
  let input;
  if (Array.isArray(schema.enum)) {
    input = el("select");
    input.append(...schema.enum.map((v) => el("option", { value: JSON.stringify(v), textContent: fmt(v) })));
  } else if (schema.type === "boolean") {
    input = el("input", { type: "checkbox" });
  } else if (schema.type === "integer" || schema.type === "number") {
    const whole = schema.type === "integer";
    input = el("input", { type: "number", step: whole ? 1 : "any" });
    input.inputMode = whole ? "numeric" : "decimal";
    if (schema.minimum !== undefined) input.min = schema.minimum;
    if (schema.maximum !== undefined) input.max = schema.maximum;
  } else if (schema.type === "string") {
    input = el("input", { type: "text" });
  } else { // arrays, objects, anything else: typed as JSON
    input = el("input", { type: "text", className: "json", placeholder: "JSON" });
  }
  input.id = id;
  return input;
}

function setInput(input, schema, value) {
  if (input.type === "checkbox") input.checked = Boolean(value);
  else if (input.tagName === "SELECT") input.value = JSON.stringify(value);
  else if (["integer", "number", "string"].includes(schema.type)) input.value = value ?? "";
  else input.value = value === undefined ? "" : JSON.stringify(value);
}

/** The input's value for the server, or undefined when left empty. */
function readInput(input, schema) {
  if (input.type === "checkbox") return input.checked;
  if (input.tagName === "SELECT") return JSON.parse(input.value);
  if (input.type === "number" && input.validity.badInput) fail("Enter a number.");
  if (input.type === "number") return input.value === "" ? undefined : Number(input.value);
  if (schema.type === "string") return input.value;
  if (input.value.trim() === "") return undefined;
  try {
    return JSON.parse(input.value);
  } catch {
    fail("Enter a JSON value.");
  }
}

function fail(message) {
  throw new Error(message);
}

// --- Things ---

async function loadThing(name, info) {
  const tdUrl = url(info.href || `${encodeURIComponent(name)}/`);
  const card = Object.assign(clone("thing-template"), { id: `thing-${name}` });
  card.dataset.thing = name;
  const title = $(".thing-title", card);
  Object.assign(title, { id: `${card.id}-title`, textContent: info.title || name });
  card.setAttribute("aria-labelledby", title.id);
  Object.assign($(".thing-td", card), { href: tdUrl, ariaLabel: `${title.textContent}: Thing Description` });
  const td = await api(tdUrl).catch((err) => ({ description: err.text, failed: true }));
  title.textContent = td.title || title.textContent;
  $(".thing-description", card).textContent = td.description || "";
  $(".thing-description", card).classList.toggle("error", Boolean(td.failed));
  const views = Object.entries(td.properties || {}).map(([p, a]) => propertyView(name, p, a, tdUrl));
  const actions = Object.entries(td.actions || {}).map(([a, aff]) => actionForm(name, a, aff, tdUrl));
  $(".properties", card).append(...views.map((v) => v.row));
  $(".actions", card).append(...actions);
  $(".properties-heading", card).hidden = views.length === 0;
  $(".actions-heading", card).hidden = actions.length === 0;
  const [eventsHeading, events] = [$(".events-heading", card), $(".thing-events", card)];
  eventsHeading.hidden = events.hidden = Object.keys(td.events || {}).length === 0;
  eventsHeading.id = `${card.id}-events`;
  events.setAttribute("aria-labelledby", eventsHeading.id);
  viewsByThing.set(name, views);
  eventLists.set(name, events);
  return { card, views };
}

function propertyView(thing, name, affordance, tdUrl) {
  const row = clone("property-template");
  const id = `prop-${thing}-${name}`;
  const writeUrl = affordance.readOnly ? null : formUrl(affordance, "writeproperty", tdUrl);
  const control = writeUrl ? inputFor(affordance, id) : el("output", { id, className: "readout" });
  Object.assign($(".property-name", row), { htmlFor: id }).append(...breakable(affordance.title || name));
  $(".property-value", row).append(control);
  const description = Object.assign($(".property-description", row), {
    id: `${id}-description`, textContent: describe(affordance, writeUrl ? "" : "read-only"),
  });
  const message = Object.assign($(".message", row), { id: `${id}-message` });
  control.setAttribute("aria-describedby", `${description.id} ${message.id}`);
  row.dataset.property = name;
  const view = {
    name, row, control, message, writeUrl, schema: affordance, key: undefined,
    readUrl: formUrl(affordance, "readproperty", tdUrl),
    pushes: 0, // values that came on the stream: a read sent before one is stale
    dirty: false, // the user is editing: live values must not overwrite the input
    update(value, written = false) {
      const key = JSON.stringify(value);
      if (key === view.key && !written) return;
      const first = view.key === undefined;
      view.key = key;
      if (!writeUrl) control.textContent = brief(value);
      else if (!view.dirty || written) {
        setInput(control, affordance, value);
        showMessage(message, "", false, control);
      }
      if (!first && !written && !calm.matches) control.animate([{ background: "var(--flash)" }, {}], 900);
    },
  };
  row.addEventListener("submit", (event) => {
    event.preventDefault();
    if (writeUrl) writeProperty(view);
  });
  control.addEventListener("input", () => { view.dirty = true; });
  control.addEventListener("change", () => writeProperty(view));
  return view;
}

async function writeProperty(view) {
  let value;
  try {
    value = readInput(view.control, view.schema) ?? fail("Enter a value.");
  } catch (err) {
    return showMessage(view.message, err.message, true, view.control);
  }
  const key = JSON.stringify(value);
  if (view.sending === key) return; // "change" and the Enter key's submit, for one edit
  view.sending = key;
  view.row.setAttribute("aria-busy", "true");
  try {
    view.dirty = false;
    view.update(await api(view.writeUrl, { method: "PUT", body: value }), true);
  } catch (err) {
    view.dirty = true; // keep what was typed beside the reason it was refused
    const why = err.fields?.length ? err.fields.map(([, m]) => m).join(" ") : err.message;
    const now = view.key === undefined ? "" : ` It is still ${fmt(JSON.parse(view.key))}.`;
    showMessage(view.message, why + now, true, view.control);
  } finally {
    view.sending = undefined;
    view.row.removeAttribute("aria-busy");
  }
}

async function readProperty(view) {
  if (view.reading || !view.readUrl) return;
  view.reading = true;
  const pushes = view.pushes;
  const error = await api(view.readUrl).then((value) => {
    if (view.pushes === pushes) view.update(value); // else a newer value came meanwhile
  }, (err) => err);
  const why = error ? `Could not read: ${error.message}` : "";
  if (error || view.unreadable) showMessage(view.message, why, true);
  view.unreadable = Boolean(error);
  view.reading = false;
}

function onProperty({ thing, name, value }) {
  const view = viewsByThing.get(thing)?.find((v) => v.name === name);
  if (!view) return;
  view.pushes += 1;
  view.update(value);
}

function onThingEvent({ thing, name, data }) {
  const list = eventLists.get(thing);
  if (!list) return;
  const shown = data && typeof data === "object" && !Array.isArray(data)
    ? Object.entries(data).map(([k, v]) => `${k} = ${brief(v)}`).join(", ") : brief(data);
  const now = new Date();
  const item = el(
    "li", {}, el("time", { dateTime: now.toISOString(), textContent: now.toLocaleTimeString() }),
    " ", el("span", { className: "event-name" }, ...breakable(name)), " ", shown,
  );
  item.dataset.event = name;
  list.prepend(item);
  while (list.children.length > EVENT_LIMIT) list.lastElementChild.remove();
}

const allViews = () => [...viewsByThing.values()].flat();

/** Re-read what may have changed silently: the computed read-only properties. */
function poll() {
  if (!live || document.visibilityState !== "visible") return;
  allViews().filter((view) => view.schema.readOnly).forEach(readProperty);
}

const refreshTimers = new Map();

/** Re-read a Thing's properties soon after its task finished: computed ones change silently. */
function refreshThingSoon(thing) {
  if (refreshTimers.has(thing) || !viewsByThing.has(thing)) return;
  refreshTimers.set(thing, setTimeout(() => {
    refreshTimers.delete(thing);
    viewsByThing.get(thing).forEach(readProperty);
  }, REFRESH_MS));
}

function actionForm(thing, name, affordance, tdUrl) {
  const form = clone("action-template");
  const title = affordance.title || name;
  form.dataset.action = name;
  $(".action-title", form).append(...breakable(title));
  $(".action-description", form).textContent = affordance.description || "";
  const start = Object.assign($(".start", form), { textContent: `Start ${title}` });
  const message = $(".message", form);
  const required = new Set(affordance.input?.required || []);
  const fields = Object.entries(affordance.input?.properties || {}).map(([arg, schema]) => {
    const id = `${thing}-${name}-${arg}`;
    const input = Object.assign(inputFor(schema, id), { name: arg });
    input.required = required.has(arg) && input.type !== "checkbox";
    if (schema.default !== undefined) setInput(input, schema, schema.default);
    const label = el("label", { htmlFor: id }, ...breakable(schema.title || arg));
    const star = el("span", { className: "required", textContent: required.has(arg) ? " *" : "" });
    star.setAttribute("aria-hidden", "true"); // the `required` attribute says it to screen readers
    label.append(star);
    const hint = el("small", { id: `${id}-hint`, textContent: describe(schema) });
    input.setAttribute("aria-describedby", hint.id);
    $(".fields", form).append(el("div", { className: `field ${input.type}` }, label, input, hint));
    return { arg, input, schema };
  });
  $(".required-note", form).hidden = required.size === 0;
  $(".fields", form).hidden = fields.length === 0;
  const invoke = formUrl(affordance, "invokeaction", tdUrl);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const args = {};
    for (const { arg, input, schema } of fields) {
      try {
        const value = readInput(input, schema);
        if (value !== undefined) args[arg] = value;
        input.removeAttribute("aria-invalid");
      } catch (err) {
        input.focus();
        return showMessage(message, `${arg}: ${err.message}`, true, input);
      }
    }
    start.disabled = true;
    showMessage(message, "Starting…", false);
    try {
      const record = await api(invoke, { method: "POST", body: args, headers: { Prefer: "respond-async" } });
      applyTask(record, true);
      const link = el("a", { href: `#task-${record.id}`, textContent: "see its task" });
      message.replaceChildren("Started: ", link);
    } catch (err) {
      showMessage(message, err.text, true);
      for (const { arg, input } of fields) {
        if (err.fields.some(([field]) => field === arg)) input.setAttribute("aria-invalid", "true");
      }
    } finally {
      start.disabled = false;
    }
  });
  return form;
}

// --- Tasks ---

function applyTask(patch, full = false) {
  let entry = tasks.get(patch.id);
  const isNew = !entry;
  if (isNew) {
    entry = { record: {}, el: clone("task-template"), cancelling: false };
    entry.el.id = `task-${patch.id}`;
    entry.el.dataset.id = patch.id;
    $(".cancel", entry.el).addEventListener("click", () => cancelTask(entry));
    tasks.set(patch.id, entry);
  }
  const old = entry.record;
  if (FINISHED.has(old.status) && !FINISHED.has(patch.status)) return; // a stale copy
  if (full && old.status === patch.status && (old.progress ?? -1) > (patch.progress ?? -1)) {
    patch = { ...patch, progress: old.progress, message: old.message }; // an older snapshot
  }
  entry.record = full ? patch : { ...old, ...patch, log: old.log || [] };
  if (isNew) placeTask(entry);
  if (isNew && !full) fetchTask(patch.id); // started elsewhere: get its input and times
  renderTask(entry, old.status);
}

async function fetchTask(id) {
  // Gone from the history already (a 404): the events are all there is.
  await api(url(`actions/${encodeURIComponent(id)}`)).then((r) => applyTask(r, true), () => null);
}

function placeTask(entry) {
  const list = $("#tasks");
  const time = (e) => e?.record.timeRequested || "~"; // none yet: just requested, the newest
  const before = [...list.children].find((li) => time(tasks.get(li.dataset.id)) <= time(entry));
  list.insertBefore(entry.el, before || null);
  const finished = [...list.children].filter((li) => FINISHED.has(tasks.get(li.dataset.id).record.status));
  while (list.children.length > TASK_LIMIT && finished.length) {
    const li = finished.pop();
    tasks.delete(li.dataset.id);
    li.remove();
  }
  $("#tasks-empty").hidden = list.children.length > 0;
}

function renderTask(entry, oldStatus) {
  const { record: r, el: li } = entry;
  const name = `${r.thing}.${r.action}`;
  const status = r.status || "unknown";
  const done = FINISHED.has(status);
  li.dataset.status = status;
  $(".task-name", li).replaceChildren(...breakable(name));
  $(".status", li).textContent = r.cancelRequested && !done ? `${status}, cancelling` : status;
  if (r.timeRequested) {
    Object.assign($(".task-time", li), {
      dateTime: r.timeRequested, textContent: new Date(r.timeRequested).toLocaleTimeString(),
    });
  }
  const bar = $("progress", li);
  bar.setAttribute("aria-label", `${name} progress`);
  const progress = status === "completed" ? 100 : r.progress;
  if (progress == null && status === "running") bar.removeAttribute("value"); // indeterminate
  else bar.value = progress ?? 0;
  $(".percent", li).textContent = progress == null ? "" : `${Math.round(progress)}%`;
  $(".task-message", li).textContent = r.message ?? "";
  $(".task-timing", li).textContent = done ? "" : timing(r);
  const input = Object.entries(r.input || {}).map(([arg, value]) => `${arg} = ${fmt(value)}`);
  $(".task-input", li).textContent = input.join(", ");
  $(".task-result", li).hidden = !done || (status !== "completed" && !r.error);
  $(".result-label", li).textContent = status === "completed" ? "Output" : "Error";
  $(".result-value", li).textContent = status === "completed"
    ? fmt(r.output) || '""' : [r.error?.title, r.error?.detail].filter(Boolean).join(": ");
  renderLog(entry);
  const cancel = $(".cancel", li);
  cancel.hidden = done || !r.status;
  cancel.disabled = Boolean(r.cancelRequested || entry.cancelling);
  cancel.textContent = cancel.disabled ? "Cancelling…" : "Cancel";
  cancel.setAttribute("aria-label", `Cancel ${name}`);
  if (!quiet && status !== oldStatus) $("#announcer").textContent = `${name}: ${status}`;
}

/** "about 12 s left · checked 3 times, next at 10:42:07": a running task's time remaining
 * and a remote job's checks, from its record. */
function timing(r) {
  const parts = [];
  if (r.estimatedRemaining != null) parts.push(`about ${duration(r.estimatedRemaining)} left`);
  if (r.checks != null) {
    const next = r.nextCheck ? `, next at ${new Date(r.nextCheck).toLocaleTimeString()}` : "";
    parts.push(`checked ${r.checks} time${r.checks === 1 ? "" : "s"}${next}`);
  }
  return parts.join(" · ");
}

function duration(seconds) {
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function renderLog(entry) {
  const log = entry.record.log || [];
  const details = $(".task-log", entry.el);
  details.hidden = log.length === 0;
  $("summary", details).textContent = `Log (${log.length})`;
  const lines = $(".log-lines", details);
  if (lines.children.length === log.length) return;
  lines.replaceChildren(...log.map((line) => el(
    "li", { className: `level-${String(line.levelname).toLowerCase()}` },
    el("time", { dateTime: line.created, textContent: new Date(line.created).toLocaleTimeString() }),
    ` ${line.levelname} `, el("span", { textContent: line.message }),
  )));
}

function appendLog(line) {
  const entry = tasks.get(line.id);
  if (!entry) return applyTask({ id: line.id, thing: line.thing, action: line.action });
  const log = (entry.record.log ||= []);
  if (!log.some((l) => l.created === line.created && l.message === line.message)) log.push(line);
  renderLog(entry);
}

async function cancelTask(entry) {
  entry.cancelling = true;
  renderTask(entry, entry.record.status);
  const target = url(`actions/${encodeURIComponent(entry.record.id)}`);
  try {
    applyTask(await api(target, { method: "DELETE" }), true);
  } catch (err) {
    if (err.status !== 409) $(".task-message", entry.el).textContent = `Could not cancel: ${err.message}`;
    await fetchTask(entry.record.id); // 409: it had finished already
  } finally {
    entry.cancelling = false;
    renderTask(entry, entry.record.status);
  }
}

async function resyncTasks() {
  try {
    const records = await api(url(`actions?limit=${TASK_LIMIT}`));
    quiet = true;
    for (const record of records.reverse()) applyTask(record, true);
  } catch (err) {
    $("#tasks-empty").textContent = `Could not load the tasks: ${err.message}`;
  } finally {
    quiet = false;
  }
}

/** The task list and every property value, read afresh: after a drop or a `missed`. */
function resync() {
  resyncTasks();
  allViews().forEach(readProperty);
}

/** The one event stream: tasks, property changes, Thing events. EventSource reconnects
 * after a network error by itself but gives up after an error reply (a 503 while the
 * server restarts): then a new one, RETRY_MS later. */
function watch() {
  const connection = $("#connection");
  let opened = false;
  const task = (full) => (data) => {
    applyTask(data, full);
    if (FINISHED.has(data.status)) refreshThingSoon(data.thing);
  };
  const handlers = {
    update: task(false),
    record: task(true),
    log: appendLog,
    property: onProperty,
    event: onThingEvent,
    missed: resync, // fell behind: the list and the values are the truth
  };
  const connect = () => {
    const events = new EventSource(withToken(url("events")));
    for (const [name, handler] of Object.entries(handlers)) {
      events.addEventListener(name, (event) => handler(JSON.parse(event.data)));
    }
    events.addEventListener("open", () => {
      live = true;
      Object.assign(connection, { textContent: "live" }).dataset.state = "live";
      if (opened) resync(); // back after a drop: catch up with what happened meanwhile
      opened = true;
    });
    events.addEventListener("error", () => {
      live = false;
      Object.assign(connection, { textContent: "reconnecting…" }).dataset.state = "down";
      if (events.readyState === EventSource.CLOSED) setTimeout(connect, RETRY_MS);
    });
  };
  connect();
  setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", poll);
}

async function main() {
  const things = $("#things");
  try {
    const index = await api(root);
    document.title = $("#title").textContent = index.title || "labthings";
    $("#description").textContent = index.description || "";
    const loaded = await Promise.all(Object.entries(index.things || {}).map(([n, i]) => loadThing(n, i)));
    things.append(...loaded.map((l) => l.card));
    watch();
    resync();
  } catch (err) {
    const text = `Could not load the lab: ${err.text || err.message}`;
    if (err.status === 401) $("#connection").textContent = "needs a token";
    else Object.assign($("#load-error"), { hidden: false, textContent: text });
  } finally {
    things.removeAttribute("aria-busy");
  }
}

main();
