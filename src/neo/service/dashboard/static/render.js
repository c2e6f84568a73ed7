// Small DOM helpers: elements, number and time formats, and tables that read whatever fields
// the API returns (known columns first), so a new field never breaks the page.

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Milliseconds since the epoch from ns, ms or s numbers or an ISO string (NaN if unknown).
export function toMillis(value) {
  if (value === undefined || value === null || value === "") return NaN;
  if (typeof value === "number") {
    if (value > 1e17) return value / 1e6;
    if (value > 1e14) return value / 1e3;
    if (value > 1e11) return value;
    return value * 1000;
  }
  if (/^\d+$/.test(String(value))) return toMillis(Number(value));
  return Date.parse(value);
}

export function isoTime(value) {
  const ms = toMillis(value);
  if (!Number.isFinite(ms)) return value === undefined || value === null ? "" : String(value);
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

// Compact UTC time: "14:02:31" today, "12-01 14:02" on another day of this year, else the date.
export function fmtTime(value) {
  const ms = toMillis(value);
  if (!Number.isFinite(ms)) return isoTime(value);
  const iso = new Date(ms).toISOString();
  const today = new Date().toISOString();
  if (iso.slice(0, 10) === today.slice(0, 10)) return iso.slice(11, 19);
  if (iso.slice(0, 4) === today.slice(0, 4)) return iso.slice(5, 16).replace("T", " ");
  return iso.slice(0, 16).replace("T", " ");
}

export function fmtAge(seconds) {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

export function fmtNum(value, digits = 6) {
  if (typeof value !== "number" || !Number.isFinite(value)) return value ?? "";
  const abs = Math.abs(value);
  if (abs >= 1000) return value.toLocaleString("en-US", { maximumFractionDigits: 2 });
  return Number(value.toPrecision(digits)).toString();
}

const WRAP_KEY = /(reason|error|detail|text|message)/;
const TIME_KEY = /(^ts$|_ns$|_at$|^time|timestamp|^created|^updated|^started|^finished)/;

export function fmtCell(key, value) {
  if (value !== null && typeof value === "object") {
    if ("symbol" in value && "venue" in value) return `${value.symbol}@${value.venue}`;
    return JSON.stringify(value);
  }
  if (TIME_KEY.test(key)) return fmtTime(value);
  if (typeof value === "number") return fmtNum(value);
  if (typeof value === "boolean") return value ? "yes" : "no";
  return value ?? "";
}

// The list inside an API answer: the array itself, or the one array-valued field of an object.
export function rows(answer, ...names) {
  if (Array.isArray(answer)) return answer;
  if (!answer || typeof answer !== "object") return [];
  for (const name of [...names, "items", "data", "results", "rows"]) {
    if (Array.isArray(answer[name])) return answer[name];
  }
  const arrays = Object.values(answer).filter(Array.isArray);
  return arrays.length === 1 ? arrays[0] : [];
}

function columnsOf(list, preferred, limit) {
  const seen = new Set();
  for (const row of list.slice(0, 50)) {
    for (const [key, value] of Object.entries(row || {})) {
      if (value === null || typeof value !== "object" || ("symbol" in value)) seen.add(key);
    }
  }
  for (const key of [...seen]) {
    if (key.endsWith("_ns") && seen.has(key.slice(0, -3))) seen.delete(key); // ts beside ts_ns
  }
  const first = preferred.filter((key) => seen.has(key));
  const rest = [...seen].filter((key) => !first.includes(key));
  return [...first, ...rest].slice(0, limit);
}

// A table of ``list`` (objects); ``options.columns`` are shown first, ``options.cell`` may
// return a node for a (key, value, row); ``options.fresh`` marks rows to flash;
// ``options.wideOnly`` columns are hidden where the card is narrow.
export function table(list, options = {}) {
  if (!list.length) return el("div", { class: "empty" }, options.empty || "nothing yet");
  const columns = columnsOf(list, options.columns || [], options.limit || 8);
  const wideOnly = (key) => ((options.wideOnly || []).includes(key) ? "wide-only" : "");
  const head = el("tr", {}, columns.map((key) => el("th", { scope: "col", class: wideOnly(key) || undefined }, key.replace(/_/g, " "))));
  const body = list.map((row) => {
    const cells = columns.map((key) => {
      const value = row[key];
      let custom = options.cell ? options.cell(key, value, row) : undefined;
      if (custom === undefined && key === "instrument") custom = instrumentCell(value);
      const content = custom !== undefined ? custom : timeParts(fmtCell(key, value), key);
      const side = key === "side" && typeof value === "string" ? value.toLowerCase() : null;
      const wrap = WRAP_KEY.test(key) ? "wrap" : "";
      const time = TIME_KEY.test(key) ? "ts" : "";
      const cls = [typeof value === "number" && !time ? "num" : "", side || "", wrap, time, wideOnly(key)]
        .filter(Boolean)
        .join(" ");
      const title = TIME_KEY.test(key) && custom === undefined ? isoTime(value) : undefined;
      return el("td", { class: cls || undefined, title }, content);
    });
    const fresh = options.fresh && options.fresh(row);
    return el("tr", { class: fresh ? "new" : undefined }, cells);
  });
  return el("table", {}, el("thead", {}, head), el("tbody", {}, body));
}

// "2024-01-01 00:17" as two unbreakable parts, so a narrow table breaks it between date and
// time (never inside the date).
function timeParts(text, key) {
  if (!TIME_KEY.test(key) || typeof text !== "string" || !text.includes(" ")) return text;
  const at = text.lastIndexOf(" ");
  return [el("span", { class: "part" }, text.slice(0, at)), " ", el("span", { class: "part" }, text.slice(at + 1))];
}

// "BTC/USDT" with the venue in the tooltip (the full id is "BTC/USDT@binance").
export function instrumentCell(value) {
  const text = value && typeof value === "object" ? `${value.symbol}@${value.venue}` : String(value ?? "");
  const at = text.lastIndexOf("@");
  return at > 0 ? el("span", { title: text }, text.slice(0, at)) : text;
}

export function kv(object, skip = []) {
  const items = Object.entries(object || {}).filter(([key]) => !skip.includes(key));
  if (!items.length) return el("div", { class: "empty" }, "none");
  return el("dl", { class: "kv" }, items.map(([key, value]) => [el("dt", {}, key.replace(/_/g, " ")), el("dd", {}, fmtCell(key, value))]));
}

export function replace(target, node) {
  target.replaceChildren(node);
}
