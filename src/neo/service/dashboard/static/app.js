// The dashboard: reads the REST API with the pasted key, follows /v1/events, and redraws the
// panel an event concerns. Errors show in the page (the notice bar or the panel), never as
// uncaught exceptions.
import { api, download, getKey, setKey, subscribe } from "./api.js";
import { drawEquity } from "./chart.js";
import { el, fmtAge, fmtNum, fmtTime, isoTime, kv, replace, rows, table, toMillis } from "./render.js";

const $ = (id) => document.getElementById(id);
const WORKING = new Set(["new", "submitted", "accepted", "partially_filled", "open", "pending"]);
const POLL_MS = 15000;
const state = { session: null, sessions: [], equity: [], fills: new Set(), stream: null, poll: null, pending: new Set(), flush: null, killEngaged: null };

function notice(text, kind = "info") {
  const box = $("notice");
  box.hidden = !text;
  box.textContent = text || "";
  box.className = `notice${kind === "error" ? " error" : ""}`;
  box.dataset.kind = kind;
}

function setLive(mode) {
  const pill = $("live");
  const text = { live: "live", reconnecting: "reconnecting…", offline: "offline", denied: "events denied" };
  pill.textContent = text[mode] || mode;
  pill.className = `pill ${mode === "live" ? "live" : mode === "offline" ? "off" : "warn"}`;
  document.body.dataset.stream = mode;
}

function explain(error) {
  if (error && error.status === 401) return "the API key was not accepted: paste a valid key";
  if (error && error.status === 403) return `not allowed: ${error.detail || error.title}`;
  return error && error.message ? error.message : String(error);
}

function panelError(id, error) {
  replace($(id), el("div", { class: "empty" }, explain(error)));
}

const account = () => (state.session && (state.session.account || state.session.account_id)) || "paper";
const sessionPath = (suffix) => `/v1/sessions/${encodeURIComponent(state.session.id)}/${suffix}`;
const instrumentOf = (row) => {
  const value = row.instrument ?? row.symbol;
  if (value && typeof value === "object") return `${value.symbol}@${value.venue}`;
  return row.venue && row.symbol ? `${row.symbol}@${row.venue}` : String(value ?? "");
};

// ------------------------------------------------------------------ sessions
async function loadSessions() {
  const answer = await api("/v1/sessions");
  // this process's sessions first; then the state database's others (neo live in its own
  // process, an earlier service run), whose records come from the database
  const here = rows(answer, "sessions");
  const stored = answer && Array.isArray(answer.stored) ? answer.stored.map((s) => ({ ...s, stored: true })) : [];
  const list = [...here, ...stored];
  state.sessions = list;
  const select = $("session");
  const current = state.session && list.find((s) => s.id === state.session.id);
  state.session = current || here.find((s) => s.status === "running") || here[0] || list[0] || null;
  select.replaceChildren(
    ...list.map((s) =>
      el("option", { value: s.id, selected: state.session && s.id === state.session.id },
        [s.id, s.kind, s.strategy, s.status, s.stored ? "stored" : ""].filter(Boolean).join(" · ")),
    ),
  );
  if (!list.length) select.append(el("option", { value: "" }, "no session"));
  if (state.session && $("notice").dataset.kind === "nosession") notice("");
}

// ------------------------------------------------------------------ panels
function equityPoints(answer) {
  if (answer && Array.isArray(answer.ts) && Array.isArray(answer.equity)) {
    return answer.ts.map((t, i) => ({ t: toMillis(t), v: Number(answer.equity[i]) }));
  }
  return rows(answer, "equity", "points", "curve").map((p) => ({
    t: toMillis(p.ts ?? p.ts_ns ?? p.time ?? p.timestamp),
    v: Number(p.equity ?? p.value),
  }));
}

function drawEquityPanel() {
  drawEquity($("equity-chart"), state.equity);
  const last = state.equity[state.equity.length - 1];
  $("equity-now").textContent = last ? fmtNum(last.v) : "";
  let peak = -Infinity;
  for (const p of state.equity) peak = Math.max(peak, p.v);
  $("drawdown-now").textContent = last && peak > 0 ? `${((last.v / peak - 1) * 100).toFixed(2)} % now` : "";
}

async function refreshEquity() {
  if (!state.session) return;
  state.equity = equityPoints(await api(sessionPath("equity")));
  drawEquityPanel();
}

// Positions may be a list of rows or a map instrument -> quantity (or -> row).
function positionRows(answer) {
  const value = answer && !Array.isArray(answer) && answer.positions !== undefined ? answer.positions : answer;
  if (Array.isArray(value)) return value;
  if (!value || typeof value !== "object") return [];
  return Object.entries(value).map(([instrument, held]) =>
    held !== null && typeof held === "object" ? { instrument, ...held } : { instrument, quantity: held },
  );
}

async function refreshPositions() {
  if (!state.session) return replace($("positions"), el("div", { class: "empty" }, "no session"));
  const list = positionRows(await api(sessionPath("positions"))).filter((p) => Number(p.quantity ?? 1) !== 0);
  replace($("positions"), table(list, { columns: ["instrument", "symbol", "quantity", "average_price", "price", "unrealized_pnl", "realized_pnl"], empty: "flat" }));
}

// Orders may come as a state list or as an event log ({event, order: {...}}): flatten, keep
// each order's latest row, show those still working.
function workingOrders(list) {
  const latest = new Map();
  list.forEach((row, index) => {
    const order = row && typeof row.order === "object" && row.order ? { ...row.order, event: row.event, reason: row.reason } : row;
    const id = order.client_order_id ?? order.id ?? index;
    latest.set(String(id), order);
  });
  return [...latest.values()].filter((o) => !o.status || WORKING.has(String(o.status).toLowerCase()));
}

async function refreshOrders() {
  if (!state.session) return replace($("orders"), el("div", { class: "empty" }, "no session"));
  const list = workingOrders(rows(await api(sessionPath("orders")), "orders"));
  replace($("orders"), table(list, { columns: ["instrument", "side", "quantity", "status", "type", "limit_price", "stop_price", "filled_quantity"], empty: "no working order" }));
}

const fillKey = (f) => String(f.trade_id ?? f.id ?? JSON.stringify(f));

async function refreshFills() {
  if (!state.session) return replace($("fills"), el("div", { class: "empty" }, "no session"));
  const list = rows(await api(sessionPath("fills")), "fills");
  const sorted = [...list].sort((a, b) => toMillis(b.ts ?? b.ts_ns) - toMillis(a.ts ?? a.ts_ns)).slice(0, 50);
  const first = state.fills.size === 0;
  const fresh = (f) => !first && !state.fills.has(fillKey(f));
  replace($("fills"), table(sorted, { columns: ["ts", "instrument", "side", "quantity", "price", "fee"], limit: 6, fresh, empty: "no fill yet" }));
  for (const f of list) state.fills.add(fillKey(f));
  $("fills").dataset.count = String(list.length);
}

async function refreshRisk() {
  const status = await api(`/v1/accounts/${encodeURIComponent(account())}/killswitch`);
  const engaged = Boolean(status && status.engaged);
  state.killEngaged = engaged;
  const box = $("killswitch");
  box.className = `killswitch ${engaged ? "engaged" : "clear"}`;
  $("ks-state").textContent = `kill switch: ${engaged ? "ENGAGED, trading halted" : "clear"} (account ${account()})`;
  const since = status.engaged_at ? ` since ${fmtTime(status.engaged_at)}` : "";
  $("ks-reason").textContent = engaged ? `${status.reason || "no reason given"}${since}` : "new orders are allowed";
  $("engage").disabled = engaged;
  $("reset").disabled = !engaged;
  if (!state.session) return replace($("risk-events"), el("div", { class: "empty" }, "no session"));
  const events = rows(await api(sessionPath("risk-events")), "events", "risk_events").slice(-20).reverse();
  replace($("risk-events"), table(events, { columns: ["ts", "event", "code", "rule", "reason"], empty: "no risk event", limit: 5 }));
}

const MAX_DATASETS = 20;

// Stored datasets (their newest bar from /v1/stats?symbol=…) and the session's own feed.
async function refreshFreshness() {
  const datasets = rows(await api("/v1/stats"), "datasets", "series", "instruments").slice(0, MAX_DATASETS);
  const detailed = await Promise.all(datasets.map(async (row) => {
    if (row.last_ts !== undefined || !row.symbol) return row;
    const query = new URLSearchParams({ symbol: row.symbol, venue: row.venue || "", timeframe: row.timeframe || "" });
    try {
      return { ...row, ...(await api(`/v1/stats?${query}`)) };
    } catch {
      return row;
    }
  }));
  const now = Date.now();
  const shown = detailed.map((row) => {
    const last = toMillis(row.last_ts ?? row.last ?? row.end ?? row.newest);
    const bar = timeframeMs(row.timeframe);
    const age = (now - (Number.isFinite(bar) ? last + bar : last)) / 1000;
    const stale = Number.isFinite(bar) && age * 1000 > 2 * bar;
    return { instrument: instrumentOf(row), timeframe: row.timeframe ?? "", last_bar: last, age: fmtAge(age), state: Number.isFinite(last) ? (stale ? "stale" : "fresh") : "no data" };
  });
  if (state.session) {
    const view = await api(`/v1/sessions/${encodeURIComponent(state.session.id)}`);
    const last = toMillis(view.updated_at);
    const age = (now - last) / 1000;
    const running = view.status === "running";
    shown.unshift({ instrument: "session feed", timeframe: view.timeframe ?? "", last_bar: last, age: fmtAge(age), state: running ? (age > 120 ? "stale" : "fresh") : String(view.status || "") });
  }
  replace($("freshness"), table(shown, {
    columns: ["instrument", "timeframe", "last_bar", "age", "state"],
    empty: "no stored data",
    cell: (key, value) => {
      if (key === "state") return el("span", { class: value }, value);
      if (key === "last_bar") return el("span", { title: isoTime(value) }, fmtTime(value));
      return undefined;
    },
  }));
}

function timeframeMs(text) {
  const match = /^(\d+)([smhdw])$/.exec(String(text || ""));
  if (!match) return NaN;
  const unit = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 }[match[2]];
  return Number(match[1]) * unit;
}

async function refreshModel() {
  if (!state.session) return replace($("model"), el("div", { class: "empty" }, "no session"));
  const answer = (await api(sessionPath("model"))) || {};
  const model = ("model" in answer ? answer.model : answer) || {};
  $("model-name").textContent = model.model_id || model.id || model.name || "";
  replace($("model"), Object.keys(model).length ? kv(model, ["features", "params", "metrics", "history", "session"]) : el("div", { class: "empty" }, "no model: a rule-based strategy"));
  const forecasts = rows(await api(sessionPath("forecasts")), "forecasts", "predictions").slice(-20).reverse();
  replace($("forecasts"), table(forecasts, { columns: ["ts", "instrument", "value", "forecast", "model_id"], empty: "no forecast yet", limit: 5 }));
}

const JOB_POLL_MS = 2000;

async function refreshJobs() {
  const list = rows(await api("/v1/jobs"), "jobs").slice(0, 30);
  // a job's end is not always an event: look again soon while one is queued or running
  clearTimeout(state.jobTimer);
  if (list.some((job) => ["queued", "running"].includes(String(job.status)))) {
    state.jobTimer = setTimeout(() => refresh(["jobs"]), JOB_POLL_MS);
  }
  replace($("jobs"), table(list, {
    columns: ["id", "kind", "status", "created_at", "finished_at"],
    empty: "no job yet",
    limit: 5,
    wideOnly: ["finished_at"],
    cell: (key, value, row) => {
      if (key !== "id") return undefined;
      if (String(row.status) !== "done") return String(value);
      const fetchReport = () => download(`/v1/jobs/${encodeURIComponent(value)}/report`, `neo-${row.kind || "job"}-${value}.html`).catch((error) => notice(explain(error), "error"));
      return el("span", {}, `${value} `, el("button", { type: "button", class: "link", title: "download the HTML report", onclick: fetchReport }, "report"));
    },
  }));
}

const PANELS = {
  equity: [refreshEquity, "equity-card"],
  positions: [refreshPositions, "positions"],
  orders: [refreshOrders, "orders"],
  fills: [refreshFills, "fills"],
  risk: [refreshRisk, "risk-events"],
  freshness: [refreshFreshness, "freshness"],
  model: [refreshModel, "model"],
  jobs: [refreshJobs, "jobs"],
};

async function refresh(names) {
  await Promise.all(names.map(async (name) => {
    const [load, target] = PANELS[name];
    try {
      await load();
    } catch (error) {
      if (error && error.status === 401) notice(explain(error), "error");
      if (name !== "equity") panelError(target, error);
    }
  }));
}

const refreshAll = () => refresh(Object.keys(PANELS));

// An event names what changed; panels refresh at most once per animation frame burst.
const AFFECTS = {
  fill: ["fills", "positions", "orders", "equity"],
  fills: ["fills", "positions", "orders", "equity"],
  order: ["orders"],
  orders: ["orders"],
  equity: ["equity"],
  risk: ["risk", "orders"],
  killswitch: ["risk"],
  kill_switch: ["risk"],
  session: ["equity", "positions", "orders", "fills", "model", "freshness", "risk"],
  job: ["jobs"],
  forecast: ["model"],
};

function onEvent(name, payload) {
  const kind = String((payload && (payload.type || payload.kind)) || name).toLowerCase();
  const panels = AFFECTS[name] || AFFECTS[kind] || (name === "ping" || name === "heartbeat" ? [] : ["fills", "positions", "orders", "equity", "risk"]);
  for (const panel of panels) state.pending.add(panel);
  if (name === "session") state.reloadSessions = true;
  if (state.flush) return;
  state.flush = setTimeout(async () => {
    if (state.reloadSessions) {
      state.reloadSessions = false;
      await loadSessions().catch(() => {});
    }
    const names = [...state.pending];
    state.pending.clear();
    state.flush = null;
    refresh(names);
  }, 50);
}

// ------------------------------------------------------------------ kill switch
function confirmAction(action) {
  const engage = action === "engage";
  $("confirm-title").textContent = engage ? "Engage the kill switch?" : "Reset the kill switch?";
  $("confirm-text").textContent = engage
    ? `New exposure on account ${account()} halts at once, for every session trading it, until a reset.`
    : `Trading on account ${account()} may resume. The reset is recorded with your reason.`;
  $("confirm-ok").textContent = engage ? "Engage" : "Reset";
  $("confirm-ok").className = engage ? "danger" : "";
  $("confirm-reason").value = "";
  $("confirm").dataset.action = action;
  $("confirm").showModal();
  $("confirm-reason").focus();
}

async function onConfirm(event) {
  event.preventDefault();
  const dialog = $("confirm");
  const reason = $("confirm-reason").value.trim();
  if (!reason) return;
  const action = dialog.dataset.action;
  dialog.close();
  try {
    await api(`/v1/accounts/${encodeURIComponent(account())}/killswitch/${action}`, { method: "POST", body: { reason } });
    notice(action === "engage" ? "kill switch engaged" : "kill switch reset");
  } catch (error) {
    notice(explain(error), "error");
  }
  refresh(["risk"]);
}

// ------------------------------------------------------------------ start and stop
function stop() {
  if (state.stream) state.stream.close();
  if (state.poll) clearInterval(state.poll);
  clearTimeout(state.jobTimer);
  state.stream = null;
  state.poll = null;
  setLive("offline");
}

async function start() {
  stop();
  if (!getKey()) {
    notice("Paste an API key to start: read scope to watch, trade to engage the kill switch, admin to reset it.");
    return;
  }
  try {
    await loadSessions();
  } catch (error) {
    notice(explain(error), "error");
    return;
  }
  notice(state.session ? "" : "No trading session yet: start one with neo serve's API (POST /v1/sessions).", "nosession");
  await refreshAll();
  document.body.dataset.ready = "1";
  state.stream = subscribe("/v1/events", onEvent, (mode, error) => {
    setLive(mode);
    if (mode === "denied") notice(explain(error), "error");
  });
  state.poll = setInterval(() => refresh(["freshness", "jobs", "risk"]), POLL_MS);
}

function init() {
  setLive("offline");
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    $("key").value = "";
    if (key) setKey(key);
    start();
  });
  $("forget").addEventListener("click", () => {
    setKey("");
    stop();
    notice("Key forgotten. Paste an API key to start.");
  });
  $("session").addEventListener("change", (event) => {
    state.session = state.sessions.find((s) => String(s.id) === event.target.value) || null;
    state.fills.clear();
    refreshAll();
  });
  $("engage").addEventListener("click", () => confirmAction("engage"));
  $("reset").addEventListener("click", () => confirmAction("reset"));
  $("confirm-form").addEventListener("submit", onConfirm);
  $("confirm-cancel").addEventListener("click", () => $("confirm").close());
  new ResizeObserver(() => drawEquityPanel()).observe($("equity-chart"));
  start();
}

init();
