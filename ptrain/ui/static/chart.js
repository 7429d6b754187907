// ptrain ui charts: time-series line charts drawn as inline SVG, no dependencies (~4 KB).
// ptrainChart.line({id, title, series: [{label, color, points: [{x: "YYYY-MM-DD", y, lo, hi}]}],
//                   markers: [{x: ISO time, label, kind}], xRange: [day, day], yMin, yMax, unit})
// Every drawn point is a <circle class="pt"> (its <title> gives the value); intervals are
// <line class="ci">; deploy moments are <line class="marker">, labelled in a band above the
// plot (never over the data). Charts given the same xRange share their time axis, so a
// deploy's line sits at the same place in each of them.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  // T: top of the plot; above it the legend (y 6-16) and three rows of marker labels
  const W = 640, H = 250, L = 52, R = 14, T = 62, B = 34, BAND = 22, ROW = 11;
  const DAY = 86400000;

  function svg(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function dayMs(x) { return Date.parse(x.length === 10 ? x + "T12:00:00Z" : x); }

  function niceStep(range) {
    const raw = range / 4, mag = Math.pow(10, Math.floor(Math.log10(raw || 1)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
    return 10 * mag;
  }

  function fmt(v, unit) {
    if (v === null || v === undefined) return "n/a";
    const s = Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
    return unit ? s + " " + unit : s;
  }

  function extent(opts) {
    let xs = [], ys = [];
    for (const s of opts.series) for (const p of s.points) {
      if (p.y === null || p.y === undefined) continue;
      xs.push(dayMs(p.x)); ys.push(p.y);
      if (p.lo !== undefined && p.lo !== null) ys.push(p.lo, p.hi);
    }
    if (opts.xRange) xs.push(dayMs(opts.xRange[0]), dayMs(opts.xRange[1]));
    const x0 = Math.min(...xs), x1 = Math.max(...xs);
    for (const m of opts.markers || []) {
      const t = dayMs(m.x);
      // a deploy far outside the data would squash the chart: show those within 3 days
      if (t >= x0 - 3 * DAY && t <= x1 + 3 * DAY) xs.push(t);
    }
    let y0 = opts.yMin !== undefined ? opts.yMin : Math.min(0, ...ys);
    let y1 = opts.yMax !== undefined ? opts.yMax : Math.max(...ys);
    if (y1 <= y0) y1 = y0 + 1;
    let a = Math.min(...xs), b = Math.max(...xs);
    if (b - a < DAY) { a -= DAY / 2; b += DAY / 2; }
    return { x0: a, x1: b, y0, y1 };
  }

  function axes(g, ex, sx, sy, unit) {
    const step = niceStep(ex.y1 - ex.y0);
    for (let v = Math.ceil(ex.y0 / step) * step; v <= ex.y1 + 1e-9; v += step) {
      g.appendChild(svg("line", { x1: L, x2: W - R, y1: sy(v), y2: sy(v), class: "grid" }));
      g.appendChild(svg("text", { x: L - 6, y: sy(v) + 4, class: "tick", "text-anchor": "end" },
        fmt(v, "")));
    }
    const days = Math.max(1, Math.round((ex.x1 - ex.x0) / DAY));
    const every = Math.max(1, Math.ceil(days / 6));
    for (let t = Math.ceil(ex.x0 / DAY) * DAY; t <= ex.x1; t += every * DAY) {
      const label = new Date(t).toISOString().slice(5, 10);
      g.appendChild(svg("text", { x: sx(t), y: H - B + 16, class: "tick", "text-anchor": "middle" },
        label));
    }
    g.appendChild(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "axis" }));
    if (unit) g.appendChild(svg("text", { x: 4, y: T - 6, class: "unit" }, unit));
  }

  function drawSeries(g, s, sx, sy, unit) {
    const pts = s.points.filter(p => p.y !== null && p.y !== undefined);
    // a day without data breaks the line: no trend is drawn across a gap
    let d = "", last = null;
    for (const p of pts) {
      const t = dayMs(p.x);
      d += (last !== null && t - last <= 1.5 * DAY ? "L" : "M") + sx(t).toFixed(1) + "," + sy(p.y).toFixed(1);
      last = t;
    }
    if (pts.length > 1) g.appendChild(svg("path", { d, class: "series", stroke: s.color }));
    for (const p of pts) {
      const cx = sx(dayMs(p.x));
      if (p.lo !== undefined && p.lo !== null) {
        g.appendChild(svg("line", { x1: cx, x2: cx, y1: sy(p.lo), y2: sy(p.hi), class: "ci",
          stroke: s.color }));
      }
      const c = svg("circle", { cx, cy: sy(p.y), r: 3.2, class: "pt", fill: s.color,
        "data-series": s.label, "data-x": p.x, "data-y": p.y });
      const ci = p.lo !== undefined && p.lo !== null ? ` [${fmt(p.lo)}, ${fmt(p.hi)}]` : "";
      c.appendChild(svg("title", {}, `${s.label} ${p.x}: ${fmt(p.y, unit)}${ci}` +
        (p.n !== undefined ? ` (n=${p.n})` : "")));
      g.appendChild(c);
    }
  }

  function drawMarkers(g, markers, ex, sx) {
    let row = 0;
    for (const m of markers || []) {
      const t = dayMs(m.x);
      if (t < ex.x0 || t > ex.x1) continue;
      const x = sx(t);
      g.appendChild(svg("line", { x1: x, x2: x, y1: BAND, y2: H - B, class: "marker " + (m.kind || "") }));
      const right = x > W - R - 90;  // near the right edge: label on the left of the line
      g.appendChild(svg("text", { x: right ? x - 3 : x + 3, y: BAND + 8 + ROW * (row++ % 3),
        class: "marker-label", "text-anchor": right ? "end" : "start" }, m.label));
    }
  }

  function legend(g, series) {
    let x = L;
    for (const s of series) {
      g.appendChild(svg("rect", { x, y: 6, width: 10, height: 10, fill: s.color }));
      g.appendChild(svg("text", { x: x + 14, y: 15, class: "legend" }, s.label));
      x += 22 + 7 * s.label.length;
    }
  }

  function line(opts) {
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", id: opts.id, role: "img",
      "aria-label": opts.title });
    root.appendChild(svg("title", {}, opts.title));
    const drawn = opts.series.filter(s => s.points.some(p => p.y !== null && p.y !== undefined));
    if (!drawn.length) {
      root.appendChild(svg("text", { x: W / 2, y: H / 2, class: "empty", "text-anchor": "middle" },
        "no data"));
      return root;
    }
    const ex = extent({ ...opts, series: drawn });
    const sx = t => L + (t - ex.x0) / (ex.x1 - ex.x0) * (W - L - R);
    const sy = v => H - B - (v - ex.y0) / (ex.y1 - ex.y0) * (H - T - B);
    const g = svg("g");
    axes(g, ex, sx, sy, opts.unit);
    drawMarkers(g, opts.markers, ex, sx);
    for (const s of drawn) drawSeries(g, s, sx, sy, opts.unit);
    legend(g, drawn);
    root.appendChild(g);
    return root;
  }

  window.ptrainChart = { line };
})();
