// The Aurora console: the incident list and the incident page, over the same JSON API every
// client uses. No framework and no build step: the api binary serves this file as it is.
//
// Safety: every piece of text from the API is put on the page with textContent, never parsed
// as markup. The one exception is the summary, which the API renders from Markdown with raw
// HTML escaped and unsafe links removed (`aurora_summary_html`). The page's
// Content-Security-Policy forbids inline script besides.
"use strict";

const TOKEN_KEY = "aurora.token";
const SEVERITIES = ["critical", "high", "medium", "low", "info", "unknown"];
const STATUSES = ["investigating", "analyzed", "resolved", "merged"];
const SOURCES = ["alertmanager", "grafana", "datadog", "netdata", "pagerduty", "splunk",
  "jenkins", "cloudbees", "dynatrace", "bigpanda"];
const OPEN = ["investigating", "analyzed"];
// While an analysis runs its thoughts arrive without an event on the stream: ask this often.
const ANALYSIS_POLL_MS = 1500;
// Many changes in a burst make one reload.
const RELOAD_DEBOUNCE_MS = 300;

// ---------------------------------------------------------------------------------------------
// Small helpers.

/** An element with attributes and children; strings become text nodes, never markup. */
function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

const $ = (id) => document.getElementById(id);

function when(value) {
  if (!value) return "—";
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? String(value) : at.toLocaleString();
}

function ago(value) {
  const at = new Date(value);
  const seconds = Math.round((Date.now() - at.getTime()) / 1000);
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return `${Math.round(seconds / 86400)} d ago`;
}

function badge(kind, value) {
  const text = value || "—";
  return h("span", { class: `badge ${kind}-${text}` }, text);
}

function notice(text, kind) {
  const box = $("notice");
  box.textContent = text || "";
  box.hidden = !text;
  if (kind) box.dataset.kind = kind; else delete box.dataset.kind;
}

function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// ---------------------------------------------------------------------------------------------
// The API.

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method: options.method || "GET",
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    cache: "no-store",
  });
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = null;
  }
  if (response.status === 401) {
    signOut("Your API token was not accepted. Sign in again.");
    throw new ApiError(401, "signed out");
  }
  if (!response.ok) {
    throw new ApiError(response.status, (body && body.error) || `HTTP ${response.status}`);
  }
  return body;
}

// ---------------------------------------------------------------------------------------------
// The live stream: server-sent events read with fetch, because EventSource cannot send the
// bearer header. Reconnects with Last-Event-ID, so what happened while it was down is sent
// again; a `reset` (too much missed) makes the current view reload instead.

const live = {
  controller: null,
  lastEventId: null,
  listeners: new Set(),

  start() {
    if (this.controller) return;
    this.controller = new AbortController();
    this.run(this.controller.signal);
  },

  stop() {
    if (this.controller) this.controller.abort();
    this.controller = null;
    this.lastEventId = null;
    this.show(null);
  },

  show(state) {
    const indicator = $("live");
    indicator.hidden = !state;
    indicator.dataset.state = state || "";
    indicator.textContent = state === "live" ? "Live" : state === "down" ? "Reconnecting…" : "";
  },

  emit(kind, data) {
    for (const listener of this.listeners) listener(kind, data);
  },

  async run(signal) {
    let backoff = 1000;
    let connectedBefore = false;
    while (!signal.aborted) {
      try {
        const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
        if (this.lastEventId) headers["Last-Event-ID"] = this.lastEventId;
        const response = await fetch("/api/incidents/stream", { headers, signal, cache: "no-store" });
        if (response.status === 401) {
          signOut("Your API token was not accepted. Sign in again.");
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        this.show("live");
        backoff = 1000;
        // Without an id to resume from, changes made while it was down are not replayed.
        if (connectedBefore && !this.lastEventId) this.emit("reset", {});
        connectedBefore = true;
        await this.read(response.body);
      } catch (_) {
        if (signal.aborted) return;
      }
      this.show("down");
      await new Promise((resolve) => setTimeout(resolve, backoff + Math.random() * 500));
      backoff = Math.min(backoff * 2, 15000);
    }
  },

  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        this.dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  },

  dispatch(block) {
    let kind = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") this.lastEventId = value;
      else if (field === "event") kind = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    let payload = {};
    try {
      payload = JSON.parse(data.join("\n"));
    } catch (_) {
      return;
    }
    this.emit(kind, payload);
  },
};

// ---------------------------------------------------------------------------------------------
// Sign-in. The token lives in this tab's sessionStorage: gone when the tab closes, never in a
// URL, a cookie or a log.

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  live.stop();
  live.listeners.delete(refreshNoiseSoon);
  $("sign-out").hidden = true;
  $("noise").textContent = "";
  renderSignIn(message);
}

function renderSignIn(message) {
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    spellcheck: "false",
  });
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, "Sign in to Aurora"),
    h("p", { class: "muted" },
      "Paste your API token (from `aurora user create` or `aurora user rotate-token`). It is kept in this tab only, until you sign out or close it."),
    h("label", { for: "token" }, "API token", input),
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    try {
      await api("/api/stats");
    } catch (error) {
      if (error.status !== 401) notice(`Cannot sign in: ${error.message}`);
      return;
    }
    notice("");
    start();
  });
  $("main").replaceChildren(form);
  notice(message || "");
  input.focus();
}

// ---------------------------------------------------------------------------------------------
// Routing between the list (`/`) and an incident (`/incidents/<id>`), without reloads.

let leaveView = () => {};

function navigate(path) {
  history.pushState(null, "", path);
  route();
}

function route() {
  leaveView();
  leaveView = () => {};
  notice("");
  const match = location.pathname.match(/^\/incidents\/([0-9a-fA-F-]{36})$/);
  if (match) leaveView = showIncident(match[1]);
  else leaveView = showList();
  $("main").focus({ preventScroll: true });
}

function link(path, ...children) {
  return h("a", {
    href: path,
    onclick: (event) => {
      if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
      event.preventDefault();
      navigate(path);
    },
  }, ...children);
}

// ---------------------------------------------------------------------------------------------
// The figure at the top: alerts received per incident opened over the last day.

async function refreshNoise() {
  try {
    const stats = await api("/api/stats");
    const ratio = stats.compression_ratio === null ? "—" : `${stats.compression_ratio.toFixed(1)}×`;
    const count = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;
    $("noise").textContent =
      `Last 24 h: ${count(stats.alerts_received, "alert")} → ${count(stats.incidents_opened, "incident")} · compression ${ratio}`;
  } catch (_) {
    // The list still works without the figure.
  }
}
const refreshNoiseSoon = debounce(refreshNoise, 2000);

// ---------------------------------------------------------------------------------------------
// The incident list.

function filtersFromUrl() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const name of ["status", "severity", "source_type", "service", "environment", "q"]) {
    if (params.get(name)) filters[name] = params.get(name);
  }
  if (params.get("include_merged") === "true") filters.include_merged = "true";
  return filters;
}

function select(name, label, values, current) {
  return h("label", { for: `f-${name}` }, label,
    h("select", { id: `f-${name}`, name },
      h("option", { value: "" }, "Any"),
      values.map((value) => h("option", { value, selected: value === current }, value))));
}

function text(name, label, current, type = "text") {
  return h("label", { for: `f-${name}` }, label,
    h("input", { id: `f-${name}`, name, type, value: current || "" }));
}

function showList() {
  let filters = filtersFromUrl();
  let cursor = null;
  let generation = 0;
  const rows = h("tbody", { id: "incident-rows" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Load more");
  const count = h("p", { class: "muted", "aria-live": "polite" });

  const form = h("form", { class: "card filters", role: "search", "aria-label": "Filter incidents" },
    text("q", "Search", filters.q, "search"),
    select("status", "Status", STATUSES, filters.status),
    select("severity", "Severity", SEVERITIES, filters.severity),
    select("source_type", "Source", SOURCES, filters.source_type),
    text("service", "Service", filters.service),
    text("environment", "Environment", filters.environment),
    h("label", { class: "inline", for: "f-include_merged" },
      h("input", { id: "f-include_merged", name: "include_merged", type: "checkbox", value: "true",
        checked: filters.include_merged === "true" }), "Show merged"),
    h("button", { type: "submit" }, "Apply"));

  const apply = () => {
    filters = {};
    for (const [name, value] of new FormData(form)) if (value) filters[name] = value;
    const query = new URLSearchParams(filters).toString();
    history.replaceState(null, "", query ? `/?${query}` : "/");
    load(false);
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); apply(); });
  form.addEventListener("change", apply);
  form.addEventListener("input", debounce((event) => {
    if (event.target.type === "search" || event.target.type === "text") apply();
  }, 400));

  async function load(append) {
    const mine = ++generation;
    const params = new URLSearchParams(filters);
    if (append && cursor) params.set("cursor", cursor);
    let page;
    try {
      page = await api(`/api/incidents?${params}`);
    } catch (error) {
      if (error.status !== 401) notice(`Cannot load incidents: ${error.message}`);
      return;
    }
    if (mine !== generation) return;
    const seen = new Set([...rows.children].map((row) => row.dataset.id));
    const fresh = page.incidents.map((incident) => {
      const row = incidentRow(incident);
      if (!append && seen.size && !seen.has(incident.id)) row.classList.add("fresh");
      return row;
    });
    if (append) rows.append(...fresh); else rows.replaceChildren(...fresh);
    cursor = page.next_cursor;
    more.hidden = !cursor;
    count.textContent = rows.children.length
      ? `${rows.children.length} incident(s) shown${cursor ? ", more below" : ""}.`
      : "No incidents match.";
  }
  more.addEventListener("click", () => load(true));

  const reload = debounce(() => load(false), RELOAD_DEBOUNCE_MS);
  const listener = () => reload();
  live.listeners.add(listener);

  $("main").replaceChildren(
    h("h1", {}, "Incidents"),
    form,
    count,
    h("div", { class: "table-wrap" },
      h("table", { "aria-label": "Incidents" },
        h("thead", {}, h("tr", {},
          ["Severity", "Title", "Service", "Environment", "Source", "Status", "RCA", "Started", "Alerts"]
            .map((name, index) => h("th", { scope: "col", class: index === 4 || index === 3 ? "hide-narrow" : null }, name)))),
        rows)),
    h("p", { class: "more" }, more));
  load(false);
  document.title = "Incidents · Aurora";
  return () => live.listeners.delete(listener);
}

function incidentRow(incident) {
  return h("tr", { "data-id": incident.id },
    h("td", {}, badge("sev", incident.severity)),
    h("td", { class: "title" }, link(`/incidents/${incident.id}`, incident.alert_title || "(untitled)")),
    h("td", {}, incident.alert_service || "—"),
    h("td", { class: "hide-narrow" }, incident.alert_environment || "—"),
    h("td", { class: "hide-narrow" }, incident.source_type),
    h("td", {}, badge("st", incident.status)),
    h("td", {}, badge("rca", incident.aurora_status)),
    h("td", { title: when(incident.started_at) }, ago(incident.started_at)),
    // The alert that opened it and those correlated with it since.
    h("td", { class: "num" }, String(incident.correlated_alert_count + 1)));
}

// ---------------------------------------------------------------------------------------------
// One incident.

function showIncident(id) {
  let current = null;
  let poll = null;
  let left = false;
  let loading = null;
  let candidates = null;

  async function load() {
    // One request at a time; a change during it asks again once it ends.
    if (loading) { loading.again = true; return; }
    loading = { again: false };
    try {
      const incident = await api(`/api/incidents/${id}`);
      if (left) return;
      current = incident;
      render(incident);
      const analysing = ["idle", "running"].includes(incident.aurora_status) && incident.status !== "merged";
      clearTimeout(poll);
      if (analysing) poll = setTimeout(load, ANALYSIS_POLL_MS);
    } catch (error) {
      if (error.status === 404) {
        $("main").replaceChildren(h("h1", {}, "Incident not found"),
          h("p", {}, link("/", "Back to the incidents")));
      } else if (error.status !== 401) {
        notice(`Cannot load the incident: ${error.message}`);
      }
    } finally {
      const again = loading && loading.again;
      loading = null;
      if (again && !left) load();
    }
  }

  async function act(description, request, done) {
    try {
      await request();
      notice(description, "ok");
      if (done) done();
    } catch (error) {
      if (error.status !== 401) notice(`${description} failed: ${error.message}`);
    }
    await load();
  }

  const setStatus = (status, description) => act(description, () =>
    api(`/api/incidents/${id}`, { method: "PATCH", body: { status } }));

  // The open incidents that could be merged in, kept current as incidents come and go.
  async function loadCandidates() {
    try {
      const page = await api("/api/incidents?limit=100");
      candidates = page.incidents.filter((other) => other.id !== id && OPEN.includes(other.status));
    } catch (_) {
      return;
    }
    if (!left) fillCandidates($("merge-source"));
  }
  const loadCandidatesSoon = debounce(loadCandidates, RELOAD_DEBOUNCE_MS);

  function fillCandidates(choice) {
    if (!choice) return;
    const chosen = choice.value;
    if (candidates === null) {
      choice.replaceChildren(h("option", { value: "" }, "Loading open incidents…"));
      return;
    }
    choice.replaceChildren(
      h("option", { value: "" }, candidates.length ? "Choose an incident…" : "No other open incident"),
      ...candidates.map((other) => h("option", { value: other.id, selected: other.id === chosen },
        `${other.alert_title || "(untitled)"} — ${other.alert_service || "no service"}, ${ago(other.started_at)}`)));
  }

  function render(incident) {
    // Rendering replaces the page: keep what the person was doing in it.
    const focused = document.activeElement && document.activeElement.id;
    const typed = $("merge-reason") ? $("merge-reason").value : "";
    const chosen = $("merge-source") ? $("merge-source").value : "";
    document.title = `${incident.alert_title || "Incident"} · Aurora`;
    const open = OPEN.includes(incident.status);
    const actions = h("div", { class: "actions", role: "group", "aria-label": "Incident actions" },
      open && h("button", { id: "resolve", type: "button", onclick: () => setStatus("resolved", "Resolved.") }, "Resolve"),
      incident.status === "resolved" && h("button", { id: "reopen", type: "button", class: "secondary", onclick: () => setStatus("investigating", "Reopened.") }, "Reopen"),
      incident.status === "investigating" && h("button", { id: "mark-analyzed", type: "button", class: "secondary", onclick: () => setStatus("analyzed", "Marked analysed.") }, "Mark analysed"));

    const header = h("div", { class: "card" },
      h("p", {}, link("/", "← Incidents")),
      h("h1", { id: "incident-title" }, incident.alert_title || "(untitled)"),
      h("p", { class: "actions" },
        badge("sev", incident.severity), h("span", { id: "incident-status" }, badge("st", incident.status)),
        h("span", { id: "rca-status" }, "RCA ", badge("rca", incident.aurora_status))),
      h("dl", { class: "meta" },
        meta("Service", incident.alert_service),
        meta("Environment", incident.alert_environment),
        meta("Source", incident.source_type),
        meta("Started", when(incident.started_at)),
        meta("Alerts", String(incident.alerts.length)),
        meta("Also affects", incident.affected_services.filter((s) => s !== incident.alert_service).join(", ")),
        incident.analyzed_at && meta("Analysed", when(incident.analyzed_at)),
        incident.resolved_at && meta("Resolved", when(incident.resolved_at)),
        incident.slack_channel && meta("Slack", incident.slack_channel)),
      incident.merged_into_incident_id && h("p", { id: "merged-into" }, "Merged into ",
        link(`/incidents/${incident.merged_into_incident_id}`, "this incident"), "."),
      actions,
      open && mergeForm());

    const main = $("main");
    main.replaceChildren(
      header,
      h("div", { class: "grid2" },
        h("div", {},
          tabs(incident),
          section("Summary", "summary", summary(incident)),
          section("Likely causes", "hypotheses", hypotheses(incident.hypotheses)),
          section("Suggested steps", "suggestions", suggestions(incident.suggestions)),
          section("Diagnostic commands", "command-runs", commandRuns(incident.command_runs))),
        h("div", {},
          section("Alerts", "alerts", alerts(incident)),
          section("Deployments nearby", "deployments", deployments(incident.deployments)),
          section("History", "events", events(incident.events)))));
    if ($("merge-reason")) $("merge-reason").value = typed;
    if ($("merge-source")) $("merge-source").value = chosen;
    if (focused && $(focused)) $(focused).focus();
  }

  function mergeForm() {
    const choice = h("select", { id: "merge-source", name: "source_incident_id", required: true });
    fillCandidates(choice);
    const reason = h("input", { id: "merge-reason", name: "reason", type: "text", maxlength: "500" });
    const form = h("form", { class: "merge", "aria-label": "Merge another incident into this one" },
      h("label", { for: "merge-source" }, "Merge an open incident into this one", choice),
      h("label", { for: "merge-reason" }, "Why (optional)", reason),
      h("button", { id: "merge", type: "submit", class: "secondary" }, "Merge"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!choice.value) return;
      const title = choice.selectedOptions[0].textContent;
      const source = choice.value;
      act(`Merged “${title}” into this incident.`, () => api(`/api/incidents/${id}/merge-alert`, {
        method: "POST",
        body: { source_incident_id: source, reason: reason.value || undefined },
      }), () => {
        // Done: the form starts over, without the incident just merged.
        choice.value = "";
        reason.value = "";
        candidates = candidates.filter((other) => other.id !== source);
      });
    });
    return form;
  }

  function tabs(incident) {
    const names = [["thoughts", "Thoughts"], ["chat", "Chat"]];
    const active = incident.active_tab === "chat" ? "chat" : "thoughts";
    const panels = {
      thoughts: thoughts(incident.thoughts, incident.aurora_status),
      chat: chat(incident.chat_messages),
    };
    const list = h("div", { class: "tabs", role: "tablist", "aria-label": "Analysis" },
      names.map(([name, label]) => h("button", {
        id: `tab-${name}`, type: "button", role: "tab", "aria-selected": String(name === active),
        "aria-controls": `panel-${name}`, tabindex: name === active ? "0" : "-1",
        onclick: () => choose(name),
        onkeydown: (event) => {
          if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") return;
          const other = name === "thoughts" ? "chat" : "thoughts";
          choose(other);
        },
      }, label)));
    const choose = (name) => {
      if (name === (current.active_tab || "thoughts")) return;
      current.active_tab = name;
      render(current);
      $(`tab-${name}`).focus();
      api(`/api/incidents/${id}`, { method: "PATCH", body: { active_tab: name } })
        .catch((error) => { if (error.status !== 401) notice(`Cannot remember the tab: ${error.message}`); });
    };
    return h("section", { "aria-label": "Analysis" }, list,
      names.map(([name]) => h("div", {
        id: `panel-${name}`, role: "tabpanel", "aria-labelledby": `tab-${name}`, hidden: name !== active,
      }, panels[name])));
  }

  const listener = (kind, change) => {
    if (kind === "reset" || !change.incident_id || change.incident_id === id ||
        (current && change.incident_id === current.merged_into_incident_id)) {
      load();
    }
    loadCandidatesSoon();
  };
  live.listeners.add(listener);
  $("main").replaceChildren(h("p", { class: "muted" }, "Loading…"));
  load();
  loadCandidates();
  return () => {
    left = true;
    clearTimeout(poll);
    live.listeners.delete(listener);
  };
}

function meta(name, value) {
  if (!value) return null;
  return h("div", {}, h("dt", {}, name), h("dd", {}, value));
}

function section(title, id, ...content) {
  return h("section", { id, "aria-labelledby": `${id}-title` }, h("h2", { id: `${id}-title` }, title), ...content);
}

function empty(text) {
  return h("p", { class: "muted" }, text);
}

function thoughts(list, status) {
  if (!list.length) return empty(status === "running" ? "The analysis is starting…" : "No thoughts yet.");
  return h("ol", { class: "feed", id: "thoughts", "aria-live": "polite" },
    list.map((thought) => h("li", {},
      h("span", { class: "kind" }, thought.kind), " ", thought.content,
      h("span", { class: "muted" }, ` · ${when(thought.created_at)}`))));
}

function chat(list) {
  if (!list.length) return empty("No chat messages.");
  return h("ol", { class: "feed" },
    list.map((message) => h("li", {}, h("span", { class: "kind" }, message.role), " ",
      h("span", {}, message.content))));
}

function summary(incident) {
  if (!incident.aurora_summary_html) {
    return empty(incident.aurora_status === "complete" ? "No summary." : "The summary appears when the analysis completes.");
  }
  const box = h("div", { class: "summary", id: "summary-text" });
  // Rendered by the API from Markdown: raw HTML escaped, links http(s) or mail only.
  box.innerHTML = incident.aurora_summary_html;
  for (const anchor of box.querySelectorAll("a")) {
    anchor.rel = "noopener noreferrer";
    anchor.target = "_blank";
  }
  return box;
}

function hypotheses(list) {
  if (!list.length) return empty("No cause ranked yet.");
  return h("ol", { class: "hypotheses" },
    list.map((hypothesis) => h("li", {},
      h("span", {}, hypothesis.cause), " ",
      h("span", { class: "confidence" }, `${Math.round(hypothesis.confidence * 100)}%`),
      h("ul", {}, hypothesis.evidence.map((line) => h("li", { class: "muted" }, line))))));
}

function suggestions(list) {
  if (!list.length) return empty("No suggestions yet.");
  return h("ul", { class: "plain" },
    list.map((suggestion) => h("li", { class: "card" },
      h("strong", {}, suggestion.title), " ", badge("risk", `${suggestion.risk} risk`),
      h("p", {}, suggestion.detail),
      suggestion.command && h("pre", {}, suggestion.command.join(" ")))));
}

function commandRuns(list) {
  if (!list.length) return empty("No diagnostic command ran.");
  return h("ul", { class: "plain" },
    list.map((run) => h("li", {},
      h("code", {}, run.argv.join(" ")),
      h("span", { class: "muted" }, ` · exit ${run.exit_code === null ? "none (stopped)" : run.exit_code} · ${run.duration_ms} ms`),
      h("pre", {}, run.output || "(no output)"))));
}

function alerts(incident) {
  if (!incident.alerts.length) return empty("No alerts.");
  const reasons = new Map(incident.correlations.map((link) => [link.alert_id, link]));
  return h("ul", { class: "plain", id: "alert-list" },
    incident.alerts.map((alert) => {
      const link = reasons.get(alert.id);
      return h("li", { class: "card" },
        h("p", {}, badge("sev", alert.severity), " ", h("strong", { class: "alert-title" }, alert.title)),
        h("p", { class: "muted" },
          `${alert.source_type} · ${alert.status} · ${alert.service || "no service"}` +
          `${alert.environment ? ` · ${alert.environment}` : ""} · seen ${alert.occurrence_count}×, last ${ago(alert.last_seen_at)}`),
        link && h("p", { class: "reason" },
          `${link.strategy} (score ${Number(link.score).toFixed(2)}): ${link.reason}`));
    }));
}

function deployments(list) {
  if (!list.length) return empty("No deployment of these services in the 6 hours before or since.");
  return h("ul", { class: "plain" },
    list.map((deployment) => h("li", {},
      badge("deploy", deployment.result), " ",
      h("strong", {}, deployment.service),
      ` ${deployment.environment ? `in ${deployment.environment} ` : ""}at ${when(deployment.deployed_at)}`,
      deployment.build_number && ` · build ${deployment.build_number}`,
      deployment.commit_sha && ` · ${deployment.commit_sha.slice(0, 10)}`)));
}

function events(list) {
  if (!list.length) return empty("No events.");
  return h("ol", { class: "feed" },
    list.map((event) => h("li", {},
      h("span", { class: "kind" }, event.kind), " ", when(event.created_at), " ",
      h("span", { class: "muted" }, describe(event.detail)))));
}

function shown(value) {
  if (typeof value === "object") return JSON.stringify(value);
  if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(1);
  return String(value);
}

function describe(detail) {
  if (!detail || typeof detail !== "object") return "";
  return Object.entries(detail)
    .filter(([, value]) => value !== null && value !== "")
    .map(([key, value]) => `${key}: ${shown(value)}`)
    .join(" · ");
}

// ---------------------------------------------------------------------------------------------
// Start.

function start() {
  $("sign-out").hidden = false;
  live.listeners.add(refreshNoiseSoon);
  live.start();
  refreshNoise();
  route();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  window.addEventListener("popstate", route);
  if (token()) start(); else renderSignIn();
});
