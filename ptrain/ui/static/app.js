// ptrain ui: one page, four views (#prompts, #feedback, #evals, #annotate), all from /api/*.
// Every text from the repository (prompts, feedback, outputs) is inserted with textContent:
// feedback is data, never markup.
"use strict";

const state = { prompts: [], envs: [], name: null };
const PALETTE = ["#3156c9", "#d9480f", "#2f9e44", "#ae3ec9", "#1098ad", "#f08c00", "#5c7cfa"];

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const k of kids.flat()) if (k !== null && k !== undefined && k !== false)
    e.appendChild(typeof k === "string" || typeof k === "number" ? document.createTextNode(String(k)) : k);
  return e;
}

function fmt(v, digits) {
  if (v === null || v === undefined) return "—";
  return typeof v === "number" ? v.toFixed(digits === undefined ? 2 : digits) : String(v);
}
function pct(v) { return v === null || v === undefined ? "—" : (100 * v).toFixed(1) + "%"; }
function ci(c, f) { return c ? ` [${(f || fmt)(c[0])}, ${(f || fmt)(c[1])}]` : ""; }

function status(text, kind) {
  const box = document.getElementById("status");
  box.replaceChildren(text ? el("p", { class: "msg " + (kind || "ok"), id: "status-msg" }, text) : "");
}

async function api(path, params) {
  const q = new URLSearchParams(params || {}).toString();
  const r = await fetch(path + (q ? "?" + q : ""));
  const data = await r.json();
  if (!r.ok) throw new Error(data.error + (data.hint ? ` (${data.hint})` : ""));
  return data;
}

async function post(path, body) {
  const r = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Ptrain-Token": token() },
    body: JSON.stringify(body),
  });
  const data = await r.json();
  if (!r.ok) throw new Error(data.error + (data.hint ? ` (${data.hint})` : ""));
  return data;
}

function token() { return document.getElementById("token").value.trim(); }

function table(headers, rows, attrs) {
  return el("table", attrs || {},
    el("thead", {}, el("tr", {}, headers.map(h => el("th", { class: h.num ? "num" : null }, h.label || h)))),
    el("tbody", {}, rows));
}

// -- Prompts -------------------------------------------------------------------------------

async function pagePrompts(main) {
  const ov = await api("/api/prompts");
  const rows = ov.prompts.map(p => el("tr", {},
    el("td", {}, el("a", { href: "#prompts", onclick: () => choose(p.name) }, p.name)),
    el("td", { class: "num" }, p.versions),
    el("td", {}, p.latest ? p.latest.label : "—"),
    ov.envs.map(e => el("td", {}, p.deployed[e] ? el("span", { class: "badge" }, p.deployed[e].label) : "—"))));
  main.append(el("h2", {}, "Prompts"),
    table(["Prompt", { label: "Versions", num: true }, "Latest", ...ov.envs], rows, { id: "prompts-table" }));
  if (!state.name) return;
  const d = await api("/api/prompt", { name: state.name });
  main.append(el("h2", {}, `${d.name}: deployed`),
    el("div", { class: "row", id: "deployed" }, d.envs.map(e =>
      el("span", { class: "badge" }, `${e}: ${d.deployed[e] ? d.deployed[e].label : "not deployed"}`))));
  main.append(el("h2", {}, "Versions and deploys"), timeline(d));
  main.append(el("h2", {}, "Diff"), diffForm(d));
}

function timeline(d) {
  const items = d.versions.map(v => ({ at: v.date, node: el("li", { class: "version" },
    el("b", {}, `v${v.number}`), ` ${v.short} · ${v.date.slice(0, 16).replace("T", " ")} · ${v.author} — `,
    v.message.split("\n")[0]) }));
  for (const r of d.history) {
    const from = r.from_version ? `v${r.from_version}` : (r.from_commit || "nothing").slice(0, 8);
    const to = r.to_version ? `v${r.to_version}` : r.to_commit.slice(0, 8);
    items.push({ at: r.at, node: el("li", { class: r.action, "data-tag": r.tag },
      el("span", { class: "badge " + r.action }, `${r.action} → ${r.env}`), ` ${from} → ${to} · `,
      `${r.at.replace("T", " ").replace("Z", "")} · ${r.by}`, r.reason ? ` — ${r.reason}` : "") });
  }
  items.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
  return el("ol", { class: "timeline", id: "timeline" }, items.map(i => i.node));
}

function diffForm(d) {
  const opts = () => d.versions.map(v => el("option", { value: v.number }, `v${v.number} ${v.short}`));
  const a = el("select", { id: "diff-a" }, opts()), b = el("select", { id: "diff-b" }, opts());
  const n = d.versions.length;
  a.value = String(Math.max(1, n - 1)); b.value = String(n);
  const out = el("pre", { class: "diff", id: "diff-out" });
  const show = async () => {
    const r = await api("/api/diff", { name: d.name, a: a.value, b: b.value });
    out.replaceChildren(...(r.diff || "(identical)\n").split("\n").map(line => el("span", {
      class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : null,
    }, line + "\n")));
  };
  const box = el("div", {}, el("div", { class: "row" }, "from", a, "to", b,
    el("button", { onclick: () => show().catch(e => status(e.message, "error")), id: "diff-show" }, "Show diff")), out);
  if (n > 1) show().catch(e => status(e.message, "error"));
  return box;
}

// -- Feedback ------------------------------------------------------------------------------

const CHARTS = [
  { id: "chart-volume", title: "Records per day", y: p => p.count, yMin: 0 },
  { id: "chart-rating", title: "Mean rating (95% interval)", y: p => p.mean_rating, lo: p => p.rating_ci,
    yMin: 0, yMax: 1, n: p => p.ratings },
  { id: "chart-errors", title: "Error rate (95% interval)", y: p => p.error_rate, lo: p => p.error_ci,
    yMin: 0, yMax: 1, n: p => p.calls },
  { id: "chart-latency-p50", title: "Latency p50", y: p => p.latency_p50, yMin: 0, unit: "ms" },
  { id: "chart-latency-p95", title: "Latency p95", y: p => p.latency_p95, yMin: 0, unit: "ms" },
  { id: "chart-tokens", title: "Tokens per call (prompt + completion)", y: p => p.mean_tokens, yMin: 0 },
];

async function pageFeedback(main) {
  if (!state.name) return main.append(el("p", { class: "muted" }, "No prompt."));
  const env = sessionStorage.getItem("ptrain-env") || "";
  const [s, lists] = await Promise.all([
    api("/api/feedback", env ? { name: state.name, env } : { name: state.name }),
    api("/api/feedback/lists", { name: state.name })]);
  const envSel = el("select", { id: "env-select", onchange: () => {
    sessionStorage.setItem("ptrain-env", envSel.value); render(); } },
  el("option", { value: "" }, "all envs"), state.envs.map(e => el("option", { value: e }, e)));
  envSel.value = env;
  const markers = s.deploys.map(d => ({ x: d.at, kind: d.action,
    label: `${d.action === "rollback" ? "↩" : "▲"} v${d.to_version || "?"} ${d.env}` }));
  const colors = {};
  s.series.forEach((x, i) => { colors[x.commit] = PALETTE[i % PALETTE.length]; });
  // one time axis for every chart (each day with any record), so deploy lines line up
  const days = s.series.flatMap(x => x.points.map(p => p.day)).sort();
  const xRange = days.length ? [days[0], days[days.length - 1]] : null;
  const charts = CHARTS.map(c => el("div", { class: "card" }, el("h3", {}, c.title),
    window.ptrainChart.line({ id: c.id, title: c.title, unit: c.unit, yMin: c.yMin, yMax: c.yMax, markers, xRange,
      series: s.series.map(x => ({ label: x.label, color: colors[x.commit], points: x.points.map(p => ({
        x: p.day, y: c.y(p), lo: c.lo && c.lo(p) ? c.lo(p)[0] : null, hi: c.lo && c.lo(p) ? c.lo(p)[1] : null,
        n: c.n ? c.n(p) : p.count })) })) })));
  main.append(el("h2", {}, `${s.name}: feedback over time`),
    el("div", { class: "row" }, "Env", envSel, el("span", { class: "muted" },
      "One point per version and UTC day; dashed lines are deploys (▲) and rollbacks (↩).")),
    el("div", { class: "charts" }, charts));
  main.append(el("h2", {}, "Per version (all envs)"), totals(s.totals));
  main.append(el("h2", {}, "Suggestions"), recordTable(lists.suggestions, "suggestions", r => r.suggestion));
  main.append(el("h2", {}, "Worst rated"), recordTable(lists.worst, "worst", r => r.message || ""));
  if (s.warnings.length) main.append(el("details", {}, el("summary", {}, `${s.warnings.length} warnings`),
    el("pre", {}, s.warnings.join("\n"))));
}

function totals(rows) {
  return table(["Version", { label: "Records", num: true }, { label: "Calls", num: true },
    { label: "Error rate", num: true }, { label: "Ratings", num: true }, { label: "Mean rating", num: true },
    { label: "p50 ms", num: true }, { label: "p95 ms", num: true }, { label: "Suggestions", num: true }],
  rows.map(r => el("tr", {}, el("td", {}, r.version_number ? `v${r.version_number}` : (r.version || "?").slice(0, 8)),
    el("td", { class: "num" }, r.count), el("td", { class: "num" }, r.calls),
    el("td", { class: "num" }, pct(r.error_rate)), el("td", { class: "num" }, r.ratings),
    el("td", { class: "num" }, fmt(r.avg_rating)), el("td", { class: "num" }, fmt(r.latency_p50_ms, 0)),
    el("td", { class: "num" }, fmt(r.latency_p95_ms, 0)), el("td", { class: "num" }, r.suggestions))),
  { id: "totals" });
}

function io(r) {
  const inputs = r.inputs ? Object.entries(r.inputs).map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`).join("\n") : "";
  return el("div", { class: "io" }, inputs, r.output ? el("div", {}, "→ ", r.output) : "");
}

function recordTable(rows, id, text) {
  if (!rows.length) return el("p", { class: "muted", id }, "None.");
  return table(["When", "Version", { label: "Rating", num: true }, "Interaction", "Text"],
    rows.map(r => el("tr", { "data-id": r.id }, el("td", {}, (r.ts || "").slice(0, 16).replace("T", " ")),
      el("td", {}, r.version), el("td", { class: "num" }, fmt(r.rating)), el("td", {}, io(r)),
      el("td", {}, text(r)))), { id });
}

// -- Evaluations & training ----------------------------------------------------------------

async function pageEvals(main) {
  if (!state.name) return main.append(el("p", { class: "muted" }, "No prompt."));
  const cases = sessionStorage.getItem("ptrain-cases-" + state.name) || "";
  const [m, t, ab] = await Promise.all([
    api("/api/evals", cases ? { name: state.name, cases } : { name: state.name })
      .catch(() => api("/api/evals", { name: state.name })),
    api("/api/training", { name: state.name }), api("/api/ab", { name: state.name })]);
  main.append(el("h2", {}, `${m.name}: stored evaluations`), matrix(m));
  main.append(el("h2", {}, "Training runs"), trainingList(t));
  main.append(el("h2", {}, "A/B experiments"), abList(ab));
}

function matrix(m) {
  if (!m.columns.length) return el("p", { class: "muted", id: "eval-matrix" },
    "No stored results. Run `ptrain evaluate " + m.name + "`.");
  const head = [{ label: "Case" }, ...m.columns.map(c => ({
    label: `${c.label} · ${pct(c.metrics.success_rate)} · ${(c.created || "").slice(0, 10)} · ${c.cases_hash}` }))];
  const body = m.rows.map(r => {
    const seen = r.cells.filter(c => c).map(c => c.passed);
    const failing = seen.some(p => !p), differs = seen.length > 1 && seen.some(p => p !== seen[0]);
    return el("tr", { class: differs ? "differs" : null, "data-failing": failing ? "1" : "0",
      "data-differs": differs ? "1" : "0" },
      el("td", {}, el("b", {}, r.id), el("div", { class: "io muted" },
        Object.values(r.vars || {}).map(String).join(" | ").slice(0, 160)),
        r.expected ? el("div", { class: "muted" }, "expected: " + r.expected) : ""),
      r.cells.map(c => !c ? el("td", { class: "cell-na" }, "—") : el("td", { title: (c.failed_checks || []).join("\n") },
        el("span", { class: c.passed ? "pass" : "fail" }, c.passed ? "✓" : "✗"),
        c.pass_fraction !== null && c.pass_fraction < 1 && c.pass_fraction > 0 ? ` ${fmt(c.pass_fraction)}` : "",
        el("div", { class: "io" }, (c.error ? "error: " + c.error : c.output || "").slice(0, 120)))));
  });
  const tbl = table(head, body, { id: "eval-matrix" });
  const sets = el("select", { id: "case-set", onchange: () => {
    sessionStorage.setItem("ptrain-cases-" + m.name, sets.value); render(); } },
  m.case_sets.map(c => el("option", { value: c.hash }, `${c.hash}: ${c.cases} cases, ${c.results} results`)));
  sets.value = m.case_set;
  const count = el("span", { class: "muted", id: "matrix-count" });
  const apply = mode => {
    let shown = 0;
    for (const tr of tbl.tBodies[0].rows) {
      const on = mode === "all" || (mode === "failures" && tr.dataset.failing === "1") ||
        (mode === "differences" && tr.dataset.differs === "1");
      tr.hidden = !on; shown += on;
    }
    count.textContent = `${shown} of ${m.rows.length} cases`;
  };
  const radio = (v, label) => el("label", {}, el("input", { type: "radio", name: "matrix-filter", value: v,
    checked: v === "all", onchange: () => apply(v) }), " " + label);
  apply("all");
  return el("div", {}, el("div", { class: "row filters" }, "Case set", sets, radio("all", "All"),
    radio("failures", "Failures"), radio("differences", "Differences"), count), tbl);
}

function trainingList(t) {
  const items = t.reports.map(r => el("div", { class: "card training" },
    el("div", {}, el("b", {}, r.stamp), " ", el("span", { class: r.proposed ? "pass" : "fail" },
      r.proposed ? "proposed" : "not proposed"), " · ", r.verdict),
    el("div", { class: "muted" }, r.ref ? `${r.ref.kind}: ${r.ref.ref} (${r.ref.commit.slice(0, 8)})` : "no branch",
      " · ", r.file),
    el("details", {}, el("summary", {}, "Report"), el("pre", {}, r.markdown))));
  for (const r of t.refs_without_report) items.push(el("div", { class: "card" },
    `${r.kind}: ${r.ref} (${r.commit.slice(0, 8)}) — ${r.subject}`));
  return items.length ? el("div", { id: "training" }, items)
    : el("p", { class: "muted", id: "training" }, "No training runs yet (`ptrain train`).");
}

function abList(ab) {
  if (!ab.experiments.length) return el("p", { class: "muted", id: "ab" }, "No A/B experiments (`ptrain ab start`).");
  return el("div", { id: "ab" }, ab.experiments.map(x => {
    if (x.error) return el("p", { class: "msg error" }, `${x.env}: ${x.error}`);
    const r = x.report, e = r.experiment;
    return el("div", { class: "card" },
      el("div", {}, el("b", {}, `${x.env}: ${e.status}`), ` · metric ${r.metric} · sample size ${e.sample_size} per variant · `,
        el("b", { class: "verdict" }, r.verdict.label)),
      table(["Variant", "Version", { label: "Weight", num: true }, { label: "Outcomes", num: true },
        "Outcome rate [95%]", "Mean rating [95%]", { label: "P(best)", num: true }],
      r.arms.map(a => el("tr", {}, el("td", {}, a.name), el("td", {}, a.version ? `v${a.version}` : a.commit.slice(0, 8)),
        el("td", { class: "num" }, a.weight + "%"), el("td", { class: "num" }, a.outcomes),
        el("td", {}, pct(a.outcome_rate) + ci(a.outcome_ci, pct)),
        el("td", {}, fmt(a.mean_rating) + ci(a.rating_ci)), el("td", { class: "num" }, pct(a.prob_best))))),
      el("ul", { class: "muted" }, r.notes.map(n => el("li", {}, n))));
  }));
}

// -- Annotation ----------------------------------------------------------------------------

async function pageAnnotate(main) {
  if (!state.name) return main.append(el("p", { class: "muted" }, "No prompt."));
  const lists = await api("/api/feedback/lists", { name: state.name });
  // the version `ptrain feedback add` would pick: deployed to the first env, else the latest
  main.append(el("h2", {}, `${state.name}: rate the version deployed to ${state.envs[0]}`),
    el("div", { class: "card", id: "annotate-general" }, feedbackForm(null)));
  const queue = sessionStorage.getItem("ptrain-queue") === "worst" ? "worst" : "recent";
  const pick = el("select", { id: "queue-select", onchange: () => {
    sessionStorage.setItem("ptrain-queue", pick.value); render(); } },
  el("option", { value: "recent" }, "newest interactions"), el("option", { value: "worst" }, "worst rated"));
  pick.value = queue;
  const items = lists[queue].filter(r => r.inputs || r.output);
  main.append(el("h2", {}, "Interactions"), el("div", { class: "row" }, "Show", pick),
    el("p", { class: "muted" }, "Each rating becomes a feedback record (same format as `ptrain feedback add`); " +
      "“Mark as expected” adds an eval case to the suite file (uncommitted)."));
  if (!items.length) main.append(el("p", { class: "muted" }, "No interactions with inputs or output."));
  for (const r of items) main.append(el("div", { class: "card interaction", "data-id": r.id },
    el("div", { class: "muted" }, `${(r.ts || "").slice(0, 16).replace("T", " ")} · ${r.version} · ${r.kind}`,
      r.rating !== undefined ? ` · rated ${fmt(r.rating)}` : ""), io(r), feedbackForm(r)));
}

function feedbackForm(r) {
  let rating = null;
  const up = el("button", { type: "button", class: "thumb-up", title: "good (rating 1)" }, "👍 Good");
  const down = el("button", { type: "button", class: "thumb-down", title: "bad (rating 0)" }, "👎 Bad");
  const score = el("input", { type: "text", class: "score", size: 5, placeholder: "0–1", inputmode: "decimal" });
  const comment = el("textarea", { class: "comment", placeholder: "comment (optional)" });
  const suggestion = el("textarea", { class: "suggestion", placeholder: "suggestion: how should the prompt change?" });
  const pick = v => { rating = v; up.classList.toggle("on", v === 1); down.classList.toggle("on", v === 0); score.value = ""; };
  up.onclick = () => pick(1); down.onclick = () => pick(0);
  const submit = async () => {
    const body = { prompt: state.name };
    if (r) body.record_id = r.id;
    const s = score.value.trim();
    if (s !== "") body.rating = Number.isNaN(Number(s)) ? s : Number(s);
    else if (rating !== null) body.rating = rating;
    if (comment.value.trim()) body.message = comment.value;
    if (suggestion.value.trim()) body.suggestion = suggestion.value;
    try {
      const rec = await post("/api/feedback", body);
      status(`Recorded ${rec.kind} ${rec.id} for ${rec.prompt} v${rec.version_number || "?"}`, "ok");
      pick(null); comment.value = ""; suggestion.value = "";
    } catch (e) { status(e.message, "error"); }
  };
  const row = el("div", { class: "row" }, up, down, "or score", score,
    el("button", { type: "button", class: "primary submit", onclick: submit }, "Submit"));
  const parts = [comment, suggestion];
  if (r && r.output !== undefined && r.inputs) {
    const expected = el("input", { type: "text", class: "expected", size: 40, placeholder: "expected answer (default: this output)" });
    const mark = async () => {
      const body = { prompt: state.name, record_id: r.id };
      if (expected.value.trim()) body.expected = expected.value;
      try {
        const res = await post("/api/expected", body);
        status(`Added eval case ${res.case.id} to ${res.path} (not committed)`, "ok");
      } catch (e) { status(e.message, "error"); }
    };
    parts.push(el("div", { class: "row" }, expected,
      el("button", { type: "button", class: "mark-expected", onclick: mark }, "Mark as expected")));
  }
  // an interaction's card stays one line until asked for more
  if (r) return el("div", { class: "form" }, row,
    el("details", {}, el("summary", {}, "comment, suggestion, mark as expected"), parts));
  return el("div", { class: "form" }, row, parts);
}

// -- shell ---------------------------------------------------------------------------------

const PAGES = { prompts: pagePrompts, feedback: pageFeedback, evals: pageEvals, annotate: pageAnnotate };

function choose(name) {
  state.name = name;
  document.getElementById("prompt-select").value = name;
  sessionStorage.setItem("ptrain-prompt", name);
  render();
}

async function render() {
  const page = (location.hash.slice(1) || "prompts").split("?")[0];
  const fn = PAGES[page] || pagePrompts;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.page === page);
  const main = document.getElementById("page");
  main.dataset.ready = "0";  // until the new view is in place (tests and people wait on it)
  const fresh = el("main", { id: "page", "data-page": page });
  try { await fn(fresh); } catch (e) { status(e.message, "error"); }
  main.replaceWith(fresh);
  fresh.dataset.ready = "1";
}

async function start() {
  const params = new URLSearchParams(location.search);
  const tok = params.get("token") || sessionStorage.getItem("ptrain-token") || "";
  const input = document.getElementById("token");
  input.value = tok;
  if (tok) sessionStorage.setItem("ptrain-token", tok);
  if (params.has("token")) history.replaceState(null, "", location.pathname + location.hash);
  input.addEventListener("change", () => sessionStorage.setItem("ptrain-token", token()));
  try {
    const ov = await api("/api/prompts");
    state.prompts = ov.prompts.map(p => p.name); state.envs = ov.envs;
    const want = params.get("prompt") || sessionStorage.getItem("ptrain-prompt");
    state.name = state.prompts.includes(want) ? want : state.prompts[0] || null;
  } catch (e) { status(e.message, "error"); }
  const sel = document.getElementById("prompt-select");
  sel.replaceChildren(...state.prompts.map(n => el("option", { value: n }, n)));
  if (state.name) sel.value = state.name;
  sel.addEventListener("change", () => choose(sel.value));
  window.addEventListener("hashchange", () => { status(""); render(); });
  render();
}

document.addEventListener("DOMContentLoaded", start);
