// The dashboard's one script: live updates by server-sent events (polling
// when they break), sortable tables, and the run charts (uPlot). No inline
// script runs: the page's CSP forbids it.
"use strict";
(function () {
  const body = document.body;
  const refresh = Number(body.dataset.refresh || 0);
  const dot = document.getElementById("live-dot");
  const updated = document.getElementById("updated");

  function stamp(ok, text) {
    if (dot) dot.className = "live-dot " + (ok ? "ok" : "bad");
    if (updated) updated.textContent = text;
  }

  // ---- sortable tables: click a header; the order survives live updates.
  const sortState = {}; // table index -> {col, dir}
  function cellKey(row, col) {
    const c = row.children[col];
    if (!c) return "";
    return c.dataset.sort !== undefined ? c.dataset.sort : c.textContent.trim();
  }
  function sortTable(table, col, dir) {
    const tb = table.tBodies[0];
    if (!tb) return;
    const rows = Array.from(tb.rows);
    rows.sort(function (a, b) {
      const x = cellKey(a, col), y = cellKey(b, col);
      if (x === "" && y !== "") return 1;
      if (y === "" && x !== "") return -1;
      const nx = Number(x), ny = Number(y);
      const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y, undefined, {numeric: true});
      return dir * c;
    });
    rows.forEach(function (r) { tb.appendChild(r); });
    Array.from(table.tHead.rows[0].cells).forEach(function (th, i) {
      if (i === col) th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
  }
  function setupSort() {
    document.querySelectorAll("table.sortable").forEach(function (table, ti) {
      if (!table.tHead) return;
      Array.from(table.tHead.rows[0].cells).forEach(function (th, col) {
        th.addEventListener("click", function () {
          const s = sortState[ti];
          const dir = (s && s.col === col) ? -s.dir : 1;
          sortState[ti] = {col: col, dir: dir};
          sortTable(table, col, dir);
        });
      });
      const s = sortState[ti];
      if (s) sortTable(table, s.col, s.dir);
    });
  }

  // ---- live updates: fetch the page's live part and swap it in.
  const live = document.getElementById("live");
  function checkedBoxes() {
    const m = {};
    if (!live) return m;
    live.querySelectorAll("input[type=checkbox]").forEach(function (b) { m[b.name + "=" + b.value] = b.checked; });
    return m;
  }
  function swap(html) {
    if (!live || html === live.dataset.last) return;
    const keep = checkedBoxes();
    live.innerHTML = html; // rendered and escaped by the server's html/template
    live.dataset.last = html;
    live.querySelectorAll("input[type=checkbox]").forEach(function (b) {
      const k = b.name + "=" + b.value;
      if (k in keep) b.checked = keep[k];
    });
    setupSort();
  }
  let busy = false;
  async function poll() {
    if (busy || document.hidden) return;
    busy = true;
    try {
      const res = await fetch(location.href, {headers: {"X-TL-Live": "1"}, credentials: "same-origin", cache: "no-store"});
      const now = new Date().toLocaleTimeString();
      if (body.dataset.status === "503") {
        // An error page: once the store answers, show the page itself.
        if (res.ok) location.reload();
        else stamp(false, "still unavailable at " + now);
        return;
      }
      if (!res.ok) {
        stamp(false, "update failed (HTTP " + res.status + ") at " + now + "; showing what was there before");
        return;
      }
      swap(await res.text());
      stamp(true, "updated " + now);
    } catch (e) {
      stamp(false, "the server does not answer (" + e + ")");
    } finally {
      busy = false;
    }
  }

  // ---- run charts.
  const palette = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#65a30d", "#475569", "#ea580c"];
  const charts = document.getElementById("charts");
  const runs = charts && charts.dataset.runs ? charts.dataset.runs.split(",").filter(Boolean) : [];
  const data = {};   // run -> metric -> {x: [], y: []}
  const plots = {};  // metric -> {u, el, zoomed}
  let lastStep = 0;

  function metricsOf() {
    const m = new Set();
    runs.forEach(function (r) { Object.keys(data[r] || {}).forEach(function (k) { m.add(k); }); });
    return Array.from(m).sort(function (a, b) {
      const rank = function (k) { return /loss/.test(k) ? 0 : /acc/.test(k) ? 1 : /lr|rate/.test(k) ? 2 : /speed|throughput|per_s/.test(k) ? 3 : 4; };
      return rank(a) - rank(b) || a.localeCompare(b);
    });
  }
  // aligned joins the runs' curves of a metric on the union of their steps.
  function aligned(metric) {
    const xs = new Set();
    runs.forEach(function (r) { const c = data[r] && data[r][metric]; if (c) c.x.forEach(function (x) { xs.add(x); }); });
    const x = Array.from(xs).sort(function (a, b) { return a - b; });
    const idx = new Map(x.map(function (v, i) { return [v, i]; }));
    const out = [x];
    runs.forEach(function (r) {
      const ys = new Array(x.length).fill(null);
      const c = data[r] && data[r][metric];
      if (c) c.x.forEach(function (s, i) { ys[idx.get(s)] = c.y[i]; });
      out.push(ys);
    });
    return out;
  }
  function width(el) { return Math.max(240, el.clientWidth - 12); }
  function draw() {
    let points = 0;
    const metrics = metricsOf();
    // The boxes first, so that each chart is sized in the grid it ends up in.
    metrics.forEach(function (metric) {
      if (plots[metric]) return;
      const el = document.createElement("div");
      el.className = "chart";
      el.dataset.metric = metric;
      const h = document.createElement("h3");
      h.textContent = metric;
      el.appendChild(h);
      charts.appendChild(el);
      plots[metric] = {el: el, zoomed: false, u: null};
    });
    metrics.forEach(function (metric) {
      const d = aligned(metric);
      const p = plots[metric];
      if (!p.u) {
        const series = [{label: "step"}].concat(runs.map(function (r, i) {
          return {label: r, stroke: palette[i % palette.length], width: 1.5, spanGaps: true};
        }));
        p.u = new uPlot({
          width: width(p.el), height: 220, series: series,
          scales: {x: {time: false}},
          axes: [{label: "step"}, {}],
          cursor: {drag: {x: true, y: false}},
          hooks: {setSelect: [function () { p.zoomed = true; }]},
        }, d, p.el);
        p.el.addEventListener("dblclick", function () { p.zoomed = false; });
        if (window.ResizeObserver) {
          new ResizeObserver(function () { p.u.setSize({width: width(p.el), height: 220}); }).observe(p.el);
        }
      } else {
        p.u.setData(d, !p.zoomed);
      }
      let n = 0;
      runs.forEach(function (r) { const c = data[r] && data[r][metric]; if (c) n += c.x.length; });
      p.el.dataset.points = String(n);
      points += n;
    });
    charts.dataset.points = String(points);
    charts.dataset.lastStep = String(lastStep);
  }
  // applySeries takes what /api/series answers: each run's curves, whole
  // (downsampled by the server), replacing what the charts had.
  function applySeries(body) {
    let last = Infinity;
    body.runs.forEach(function (rs) {
      const dr = {};
      Object.keys(rs.curves).forEach(function (k) { dr[k] = {x: rs.curves[k].x, y: rs.curves[k].y}; });
      data[rs.run] = dr;
      last = Math.min(last, rs.last_step);
    });
    if (isFinite(last)) lastStep = last;
    draw();
  }
  async function fetchSeries() {
    if (!runs.length || typeof uPlot === "undefined" || document.hidden) return;
    const q = runs.map(function (r) { return "run=" + encodeURIComponent(r); }).join("&");
    const res = await fetch("/api/series?" + q, {credentials: "same-origin", cache: "no-store"});
    if (!res.ok) {
      stamp(false, "curves: HTTP " + res.status);
      return;
    }
    applySeries(await res.json());
  }

  // Polling: what the page does without server-sent events.
  let polling = false;
  function startPolling() {
    if (polling || refresh <= 0) return;
    polling = true;
    stamp(true, "live, polling every " + (refresh / 1000) + " s");
    setInterval(poll, refresh);
    if (charts && runs.length) {
      fetchSeries().catch(function (e) { stamp(false, "curves: " + e); });
      setInterval(function () { fetchSeries().catch(function (e) { stamp(false, "curves: " + e); }); }, refresh);
    }
  }
  // Server-sent events: the server pushes the live part and the curves when
  // they change. After three failures in a row, or if the browser gives up,
  // the page polls instead.
  function startStream() {
    const q = "page=" + encodeURIComponent(location.pathname + location.search) +
      runs.map(function (r) { return "&run=" + encodeURIComponent(r); }).join("");
    const es = new EventSource("/events?" + q);
    let fails = 0;
    body.dataset.live = "sse";
    es.addEventListener("live", function (ev) {
      fails = 0;
      const m = JSON.parse(ev.data);
      const now = new Date().toLocaleTimeString();
      if (m.status !== 200) {
        stamp(false, "update failed (HTTP " + m.status + ") at " + now + "; showing what was there before");
        return;
      }
      swap(m.html);
      stamp(true, "live, updated " + now);
    });
    es.addEventListener("series", function (ev) {
      fails = 0;
      if (typeof uPlot !== "undefined") applySeries(JSON.parse(ev.data));
    });
    es.onopen = function () { fails = 0; };
    es.onerror = function () {
      fails++;
      stamp(false, "the live stream broke; retrying");
      if (es.readyState === EventSource.CLOSED || fails >= 3) {
        es.close();
        body.dataset.live = "poll";
        startPolling();
      }
    };
  }

  setupSort();
  if (live) live.dataset.last = live.innerHTML;
  // An error page polls until the store answers, then reloads.
  const errorPage = body.dataset.status && body.dataset.status !== "200";
  if (refresh > 0 && window.EventSource && !errorPage) {
    startStream();
  } else {
    startPolling();
  }
})();
