// The live dashboard: asks the service for its figures every second and
// draws them. What is drawn is kept on `window.dashboard`, for anyone (or
// any test) who wants to read it.
"use strict";

// The charts show the last two minutes, or less while there is less.
const MAX_WINDOW_MS = 120000, MIN_WINDOW_MS = 30000;
const dashboard = (window.dashboard = {
  points: [], // one per second, from /stats/series
  stats: null, // the pool's statistics now, from /stats
  connections: [], // the pool's open connections now, each with its server
  config: null,
  burst: null,
  updates: 0, // refreshes that succeeded
  draws: 0, // charts drawn with at least one point
  error: null,
});

const $ = (id) => document.getElementById(id);
const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
const ms = (v) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));

async function getJson(path) {
  const response = await fetch(path, { cache: "no-store" });
  if (!response.ok) throw new Error(path + ": " + response.status);
  return response.json();
}

async function refresh() {
  try {
    const [series, stats] = await Promise.all([getJson("/stats/series"), getJson("/stats")]);
    dashboard.points = series.points;
    dashboard.stats = stats.pool;
    dashboard.connections = stats.connections;
    dashboard.inUse = stats.pool.in_use;
    dashboard.config = stats.config;
    dashboard.burst = stats.burst;
    dashboard.error = null;
    render(stats);
    dashboard.updates += 1;
  } catch (e) {
    dashboard.error = String(e);
    $("status").textContent = "service unreachable";
    $("status").className = "pill saturated";
  }
  setTimeout(refresh, 1000);
}

function render(stats) {
  const pool = stats.pool;
  const config = stats.config;
  const last = stats.last_second || {};
  $("pool-name").textContent = config.name;
  $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  $("tile-size").textContent = pool.pool_size + " / " + config.max_size;
  $("tile-idle").textContent = pool.pool_available;
  $("tile-in-use").textContent = pool.in_use;
  $("tile-waiting").textContent = pool.requests_waiting;
  $("tile-waiting").classList.toggle("alert", pool.requests_waiting > 0);
  $("tile-max-wait").textContent = pool.requests_max_wait_ms + " ms";
  $("tile-percentiles").textContent =
    last.checkouts ? [last.p50_ms, last.p95_ms, last.p99_ms].map(ms).join(" / ") + " ms" : "–";
  $("tile-timeouts").textContent = pool.requests_timeouts;
  $("tile-timeouts").classList.toggle("alert", last.timeouts > 0);
  $("tile-rejected").textContent = pool.requests_rejected;
  $("tile-rejected").classList.toggle("alert", last.rejected > 0);

  const saturated = last.waiting > 0 || last.timeouts > 0 || last.rejected > 0;
  const busy = last.in_use >= config.max_size;
  $("status").textContent = saturated ? "saturated: requests wait" : busy ? "busy: every connection in use" : "ok";
  $("status").className = "pill " + (saturated ? "saturated" : busy ? "busy" : "ok");

  renderConfig(config);
  renderConnections(stats.connections);
  renderBurst(stats.burst);
  drawCharts(config);
}

function renderConfig(config) {
  const table = $("config");
  table.replaceChildren(
    ...Object.entries(config).map(([key, value]) => {
      const row = document.createElement("tr");
      for (const text of [key, value === 0 && key === "max_waiting" ? "0 (no limit)" : String(value)]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    })
  );
}

// One row per server: how many of the pool's connections are on it, how
// many of those are in use, and their ids, so that a failover shows as the
// connections moving from one host to another.
function renderConnections(connections) {
  const servers = new Map();
  for (const c of connections) {
    const entry = servers.get(c.server) || { open: 0, inUse: 0, ids: [] };
    entry.open += 1;
    entry.inUse += c.in_use ? 1 : 0;
    entry.ids.push(c.id);
    servers.set(c.server, entry);
  }
  const table = $("connections");
  if (servers.size === 0) {
    const row = document.createElement("tr");
    const cell = document.createElement("td");
    cell.colSpan = 3;
    cell.className = "muted";
    cell.textContent = "no connection open";
    row.append(cell);
    table.replaceChildren(row);
    return;
  }
  table.replaceChildren(
    ...[...servers.entries()].sort().map(([server, entry]) => {
      const row = document.createElement("tr");
      row.dataset.server = server;
      for (const text of [server, entry.inUse + " / " + entry.open + " in use", "#" + entry.ids.join(" #")]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    })
  );
}

function renderBurst(burst) {
  const button = $("burst-button");
  button.disabled = burst.running;
  if (!burst.number) return;
  const s = burst.settings;
  const done = burst.ok + burst.timeouts + burst.rejected + burst.failed;
  $("burst-status").textContent =
    "Burst " + burst.number + " (" + s.requests + " × " + s.sleep_ms + " ms): " +
    (burst.running ? "running, " + done + " answered" : "done in " + burst.elapsed_ms + " ms") +
    " — ok " + burst.ok + ", timed out " + burst.timeouts + ", rejected " + burst.rejected +
    (burst.failed ? ", failed " + burst.failed : "");
}

function drawCharts(config) {
  const points = dashboard.points;
  const timeoutMs = parseDuration(config.timeout);
  drawLines($("chart-connections"), points, [
    { key: "size", color: css("--size") },
    { key: "idle", color: css("--idle") },
    { key: "in_use", color: css("--in-use") },
  ], config.max_size, true);
  drawLines($("chart-waiting"), points, [{ key: "waiting", color: css("--waiting"), fill: true }], 0, true);
  drawLines($("chart-wait"), points, [
    { key: "p50_ms", color: css("--p50") },
    { key: "p95_ms", color: css("--p95") },
    { key: "p99_ms", color: css("--p99") },
  ], timeoutMs, false);
  drawBars($("chart-errors"), points, [
    { key: "timeouts", color: css("--timeouts") },
    { key: "rejected", color: css("--rejected") },
  ]);
  if (points.length) dashboard.draws += 1;
}

// "30s", "250ms", "1m" -> milliseconds.
function parseDuration(text) {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text || "");
  if (!m) return null;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
}

// A canvas sized for the screen, with its axes; returns what the series
// need to place their points.
function frame(canvas, points, maxValue, integer) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth, height = canvas.clientHeight;
  canvas.width = width * dpr;
  canvas.height = height * dpr;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.clearRect(0, 0, width, height);
  const left = 40, right = width - 8, top = 8, bottom = height - 18;
  const step = niceStep(maxValue / 4, integer);
  const top_value = step * 4;
  const now = points.length ? points[points.length - 1].t : Date.now();
  const span = points.length ? now - points[0].t : 0;
  const window_ms = Math.min(MAX_WINDOW_MS, Math.max(MIN_WINDOW_MS, span));
  g.font = "11px system-ui, sans-serif";
  g.fillStyle = css("--muted");
  g.strokeStyle = css("--grid");
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = (top_value * i) / 4;
    const y = bottom - ((bottom - top) * i) / 4;
    g.beginPath();
    g.moveTo(left, y);
    g.lineTo(right, y);
    g.stroke();
    g.fillText(Number.isInteger(v) ? String(v) : v.toFixed(1), 4, y + 4);
  }
  g.fillText("-" + Math.round(window_ms / 1000) + " s", left, height - 4);
  g.fillText("now", right - 22, height - 4);
  return {
    g,
    x: (t) => right - ((now - t) / window_ms) * (right - left),
    y: (v) => bottom - (Math.min(v, top_value) / top_value) * (bottom - top),
    left, right, top, bottom,
    barWidth: Math.max(2, ((right - left) * 1000) / window_ms - 1),
  };
}

// The smallest of 1, 2, 2.5, 5 times a power of ten that is at least v
// (whole numbers only for counts).
function niceStep(v, integer) {
  if (!(v > 0)) return integer ? 1 : 0.25;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) {
    const step = m * p;
    if (v <= step && (!integer || Number.isInteger(step))) return step;
  }
  return 10 * p;
}

function drawLines(canvas, points, series, limit, integer) {
  let max = limit || 0;
  for (const p of points) for (const s of series) max = Math.max(max, p[s.key]);
  const f = frame(canvas, points, integer ? max : max * 1.1, integer);
  const g = f.g;
  if (limit) {
    g.save();
    g.strokeStyle = css("--limit");
    g.setLineDash([5, 4]);
    g.beginPath();
    g.moveTo(f.left, f.y(limit));
    g.lineTo(f.right, f.y(limit));
    g.stroke();
    g.restore();
  }
  for (const s of series) {
    const visible = points.filter((p) => f.x(p.t) >= f.left);
    if (!visible.length) continue;
    g.strokeStyle = s.color;
    g.lineWidth = 2;
    g.beginPath();
    visible.forEach((p, i) => (i ? g.lineTo : g.moveTo).call(g, f.x(p.t), f.y(p[s.key])));
    g.stroke();
    if (s.fill) {
      g.lineTo(f.x(visible[visible.length - 1].t), f.bottom);
      g.lineTo(f.x(visible[0].t), f.bottom);
      g.closePath();
      g.globalAlpha = 0.15;
      g.fillStyle = s.color;
      g.fill();
      g.globalAlpha = 1;
    }
  }
}

function drawBars(canvas, points, series) {
  let max = 1;
  for (const p of points) max = Math.max(max, series.reduce((sum, s) => sum + p[s.key], 0));
  const f = frame(canvas, points, max, true);
  for (const p of points) {
    let base = 0;
    for (const s of series) {
      const v = p[s.key];
      if (!v) continue;
      f.g.fillStyle = s.color;
      const top = f.y(base + v);
      f.g.fillRect(f.x(p.t) - f.barWidth, top, f.barWidth, f.y(base) - top);
      base += v;
    }
  }
}

async function startBurst() {
  const requests = $("burst-requests").value, sleep = $("burst-sleep").value;
  $("burst-button").disabled = true;
  try {
    const response = await fetch("/burst?requests=" + encodeURIComponent(requests) + "&sleep_ms=" + encodeURIComponent(sleep), { method: "POST" });
    const body = await response.json();
    if (!response.ok && response.status !== 409) throw new Error(body.error || response.status);
    dashboard.burst = body.burst;
    renderBurst(body.burst);
  } catch (e) {
    $("burst-status").textContent = "The burst did not start: " + e.message;
    $("burst-button").disabled = false;
  }
}

$("burst-button").addEventListener("click", startBurst);
window.addEventListener("resize", () => dashboard.config && drawCharts(dashboard.config));
refresh();
