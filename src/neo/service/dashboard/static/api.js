// The REST API with the key the user pasted (kept in sessionStorage: gone when the tab closes),
// and server-sent events read with fetch, so the key travels in the Authorization header
// (EventSource cannot send headers, and a key in a URL ends up in logs).

const KEY = "neo.apiKey";

export function getKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
  }
}

function headers(extra) {
  const out = { ...extra };
  const key = getKey();
  if (key) out.Authorization = `Bearer ${key}`;
  return out;
}

async function problem(response) {
  let body = {};
  try {
    body = await response.json();
  } catch {
    body = {};
  }
  return new ApiError(response.status, body.title || response.statusText || "error", body.detail || "");
}

export async function api(path, { method = "GET", body, accept = "application/json" } = {}) {
  const init = { method, headers: headers({ Accept: accept }), cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw await problem(response);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export async function download(path, filename) {
  const response = await fetch(path, { headers: headers({}), cache: "no-store" });
  if (!response.ok) throw await problem(response);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function parseBlock(block) {
  let event = "message";
  let id = null;
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    else if (field === "id") id = value;
  }
  if (!data.length) return null;
  const text = data.join("\n");
  let payload = text;
  try {
    payload = JSON.parse(text);
  } catch {
    payload = text;
  }
  return { event, payload, id };
}

// Follow an SSE stream; reconnects with backoff (sending Last-Event-ID), stops on 401/403.
export function subscribe(path, onEvent, onState) {
  let stopped = false;
  let controller = null;
  let lastId = null;
  let delay = 500;

  async function readStream(response) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let match;
      while ((match = /\r?\n\r?\n/.exec(buffer))) {
        const block = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        const message = parseBlock(block);
        if (message) {
          if (message.id) lastId = message.id;
          onEvent(message.event, message.payload);
        }
      }
    }
  }

  async function run() {
    while (!stopped) {
      controller = new AbortController();
      try {
        const extra = { Accept: "text/event-stream" };
        if (lastId) extra["Last-Event-ID"] = lastId;
        const response = await fetch(path, { headers: headers(extra), signal: controller.signal, cache: "no-store" });
        if (response.status === 401 || response.status === 403) {
          onState("denied", await problem(response));
          return;
        }
        if (!response.ok || !response.body) throw await problem(response);
        delay = 500;
        onState("live");
        await readStream(response);
      } catch (error) {
        if (stopped) return;
        onState("offline", error);
      }
      if (stopped) return;
      onState("reconnecting");
      await sleep(delay);
      delay = Math.min(delay * 2, 15000);
    }
  }

  run();
  return {
    close() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}
