// Equity (top, line) and drawdown from the running peak (bottom, area) on one canvas, drawn at
// the device's pixel ratio so it stays sharp on phones. No library: a few dozen canvas calls.

const COLORS = { equity: "#38bdf8", drawdown: "#ef4444", grid: "#22304d", text: "#94a3b8" };
const MAX_POINTS = 2000;

function thin(points) {
  if (points.length <= MAX_POINTS) return points;
  const step = points.length / MAX_POINTS;
  const out = [];
  for (let i = 0; i < MAX_POINTS; i += 1) out.push(points[Math.floor(i * step)]);
  out.push(points[points.length - 1]);
  return out;
}

export function drawdowns(points) {
  let peak = -Infinity;
  return points.map((p) => {
    peak = Math.max(peak, p.v);
    return peak > 0 ? p.v / peak - 1 : 0;
  });
}

function label(ctx, text, x, y, align = "left") {
  ctx.fillStyle = COLORS.text;
  ctx.textAlign = align;
  ctx.fillText(text, x, y);
}

function shortTime(ms) {
  return new Date(ms).toISOString().slice(5, 16).replace("T", " ");
}

export function drawEquity(canvas, series) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = "11px system-ui, sans-serif";
  const points = thin(series.filter((p) => Number.isFinite(p.t) && Number.isFinite(p.v)));
  if (points.length < 2) {
    label(ctx, points.length ? "waiting for more equity points…" : "no equity yet", width / 2, height / 2, "center");
    return;
  }
  const left = 8;
  const right = width - 64;
  const top = 8;
  const split = Math.round(height * 0.68);
  const bottom = height - 18;
  const t0 = points[0].t;
  const t1 = points[points.length - 1].t;
  const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (right - left);
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of points) {
    lo = Math.min(lo, p.v);
    hi = Math.max(hi, p.v);
  }
  if (hi - lo < 1e-9) {
    hi += 1;
    lo -= 1;
  }
  const y = (v) => top + (1 - (v - lo) / (hi - lo)) * (split - 10 - top);
  const dd = drawdowns(points);
  const worst = Math.min(...dd, -1e-6);
  const yd = (d) => split + (d / worst) * (bottom - split);

  ctx.strokeStyle = COLORS.grid;
  ctx.lineWidth = 1;
  for (const v of [lo, (lo + hi) / 2, hi]) {
    ctx.beginPath();
    ctx.moveTo(left, y(v));
    ctx.lineTo(right, y(v));
    ctx.stroke();
    label(ctx, v.toLocaleString("en-US", { maximumFractionDigits: 0 }), right + 4, y(v) + 4);
  }
  ctx.beginPath();
  ctx.moveTo(left, split);
  ctx.lineTo(right, split);
  ctx.stroke();
  label(ctx, `${(worst * 100).toFixed(2)} %`, right + 4, bottom);

  ctx.strokeStyle = COLORS.equity;
  ctx.lineWidth = 1.6;
  ctx.beginPath();
  points.forEach((p, i) => (i ? ctx.lineTo(x(p.t), y(p.v)) : ctx.moveTo(x(p.t), y(p.v))));
  ctx.stroke();

  ctx.fillStyle = "rgba(239,68,68,.35)";
  ctx.strokeStyle = COLORS.drawdown;
  ctx.beginPath();
  ctx.moveTo(x(points[0].t), split);
  points.forEach((p, i) => ctx.lineTo(x(p.t), yd(dd[i])));
  ctx.lineTo(x(points[points.length - 1].t), split);
  ctx.closePath();
  ctx.fill();

  label(ctx, shortTime(t0), left, height - 4);
  label(ctx, shortTime(t1), right, height - 4, "right");
}
