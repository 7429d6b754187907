"""The evaluation as markdown, fit to be a pull-request body: a table and a verdict.

Everything that came from a model or from feedback (inputs, expected values, outputs) is data,
not markup: it is shown in code spans with ``|`` escaped, newlines shown as ``⏎`` and long text
cut, so it can neither break the table, ping people (``@name``) nor inject links or HTML.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ptrain.config import Thresholds
from ptrain.evaluation.compare import LOWER_IS_BETTER, Comparison, compare, format_p
from ptrain.evaluation.results import EvalResult
from ptrain.evaluation.runner import describe_calibration

METRIC_ROWS = [
    ("success_rate", "Success rate", "pct"),
    ("pass_at_runs", "Pass rate over runs", "pct"),
    ("error_rate", "Error rate", "pct"),
    ("safety", "Safety", "score"),
    ("safety_checks", "Safety (deterministic checks)", "score"),
    ("coherence", "Coherence (model log-likelihood)", "score"),
    ("relevance", "Relevance (embedder similarity)", "score"),
    ("judge_safety", "Safety (judge)", "score"),
    ("judge_coherence", "Coherence (judge)", "score"),
    ("judge_relevance", "Relevance (judge)", "score"),
    ("refusal_rate", "Refusal rate", "pct"),
    ("latency_p50_ms", "Latency p50", "ms"),
    ("latency_p95_ms", "Latency p95", "ms"),
    ("tokens_per_call", "Tokens per call", "num"),
    ("user_rating", "User rating (feedback)", "score"),
    ("user_ratings", "User ratings (count)", "int"),
]
MAX_CELL = 160


def format_value(v: Any, kind: str) -> str:
    if v is None:
        return "n/a"
    if kind == "pct":
        return f"{v * 100:.1f}%"
    if kind == "score":
        return f"{v:.2f}"
    if kind == "ms":
        return f"{v:,.0f} ms"
    if kind == "int":
        return f"{int(v)}"
    return f"{v:,.1f}"


def metric_cell(res: EvalResult | None, key: str, kind: str) -> str:
    """A metric's value with its bootstrap 95% interval, and a judge metric's calibration:
    ``0.78 [0.70, 0.85]``, ``0.40 [0.20, 0.60] uncalibrated (κ=0.05)``."""
    if res is None:
        return "n/a"
    v = res.metrics.get(key)
    text = format_value(v, kind)
    ci = res.intervals.get(key)
    if v is not None and ci:
        lo, hi = ci
        if kind == "pct":
            text += f" [{lo * 100:.1f}, {hi * 100:.1f}]"
        elif kind == "score":
            text += f" [{lo:.2f}, {hi:.2f}]"
        elif kind == "ms":
            text += f" [{lo:,.0f}, {hi:,.0f}]"
        else:
            text += f" [{lo:,.1f}, {hi:,.1f}]"
    st = res.calibration.get(key)
    if st is not None:
        text += f" {describe_calibration(st)}"
    return text


def format_delta(key: str, d: float | None, kind: str) -> str:
    if d is None:
        return ""
    if kind == "pct":
        text = f"{d * 100:+.1f} pts"
    elif kind == "ms":
        text = f"{d:+,.0f} ms"
    elif kind == "int":
        text = f"{int(d):+d}"
    elif kind == "score":
        text = f"{d:+.2f}"
    else:
        text = f"{d:+,.1f}"
    if abs(d) < 1e-12:
        return text
    better = (d < 0) if key in LOWER_IS_BETTER else (d > 0)
    return f"{text} {'▲' if better else '▼'}"


def code(value: Any, limit: int = MAX_CELL) -> str:
    """``value`` as an inert markdown code span for a table cell."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = text.replace("\r\n", "\n").replace("\n", " ⏎ ")
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("|", "\\|")
    if not text:
        return "*(empty)*"
    ticks = "`" * (max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _version_line(r: EvalResult) -> str:
    return f"**{r.label}**"


def render_markdown(
    subject: Comparison | EvalResult, *, thresholds: Any = None, max_failures: int = 15
) -> str:
    """A PR-ready report of a comparison (or of a single evaluation, judged by the absolute
    gates at ``thresholds``, default the configured defaults)."""
    if isinstance(subject, EvalResult):
        subject = compare(subject, None, thresholds or Thresholds())
    c = subject
    lines = _header(c)
    base = c.baseline
    lines += _comparison_table(c, base) if base is not None else _metric_table(c.candidate)
    lines.append("")
    lines += _notes(c)
    lines += _failing_cases(c.candidate, max_failures)
    return "\n".join(lines).rstrip() + "\n"


def _header(c: Comparison) -> list[str]:
    """The title, the verdict with its gates and the line naming what was run."""
    cand, base = c.candidate, c.baseline
    lines: list[str] = []
    title = f"## Evaluation: `{cand.prompt}` {cand.label}"
    if base is not None:
        title += f" vs {base.label}"
    lines += [title, ""]
    verdict = "✅ **Recommended: deploy**" if c.recommended else "❌ **Not recommended**"
    lines += [verdict, ""]
    for g in c.gates:
        lines.append(f"- {'✅' if g.passed else '❌'} {g.detail}")
    lines.append("")

    where = f"{len(cand.cases)} cases × {cand.runs} run{'s' if cand.runs != 1 else ''}"
    model = cand.model.get("model", "?")
    judge = (cand.judge_model or {}).get("model")
    lines.append(
        f"Candidate {_version_line(cand)}"
        + (f", baseline {_version_line(base)}" if base else "")
        + f"; {where}; model `{model}`"
        + (f", judge `{judge}`" if judge else ", no judge")
        + (" (cached)" if cand.cached and (base is None or base.cached) else "")
        + "."
    )
    lines.append("")
    return lines


def _comparison_table(c: Comparison, base: EvalResult) -> list[str]:
    """Baseline, candidate and delta per metric, then the paired significance."""
    cand = c.candidate
    lines = ["| Metric | Baseline | Candidate | Δ |", "|---|---:|---:|---:|"]
    for key, name, kind in METRIC_ROWS:
        d = c.deltas.get(key)
        if d is None or not (d["baseline"] or d["candidate"]) and kind == "int":
            continue  # no feedback ratings on either side
        if d["baseline"] is None and d["candidate"] is None and key not in cand.calibration:
            continue
        lines.append(
            f"| {name} | {metric_cell(base, key, kind)} | {metric_cell(cand, key, kind)} | "
            f"{format_delta(key, d['delta'], kind)} |"
        )
    lines.append("")
    lo, hi = c.ci or (0.0, 0.0)
    lines.append(
        f"**Significance:** exact McNemar p = {format_p(c.p_value) if c.p_value is not None else 'n/a'} over {c.paired_cases} paired "
        f"cases ({c.candidate_only} fixed, {c.baseline_only} broken); paired bootstrap 95% "
        f"CI of the success-rate change [{lo * 100:+.1f}, {hi * 100:+.1f}] pts; "
        f"threshold p < {c.significance}."
    )
    lines.append("")
    lines.append(
        "Intervals in brackets: percentile bootstrap 95% over cases, per version. Coherence, "
        "relevance and safety are measured without a judge (docs/metrics.md); a judge metric "
        "gates only when calibrated (`ptrain evaluate calibrate`)."
    )
    return lines


def _metric_table(cand: EvalResult) -> list[str]:
    """The value of each metric of a single evaluation."""
    lines = ["| Metric | Value |", "|---|---:|"]
    for key, name, kind in METRIC_ROWS:
        v = cand.metrics.get(key)
        if v is not None or key in cand.calibration:
            lines.append(f"| {name} | {metric_cell(cand, key, kind)} |")
    return lines


def _notes(c: Comparison) -> list[str]:
    """The notes of the comparison and both evaluations, once each, folded away."""
    base = c.baseline
    notes = list(dict.fromkeys([*c.notes, *c.candidate.notes, *((base.notes) if base else [])]))
    if not notes:
        return []
    lines = ["<details><summary>Notes</summary>", ""]
    lines += [f"- {_plain(n)}" for n in notes]
    return [*lines, "", "</details>", ""]


def _failing_cases(cand: EvalResult, max_failures: int) -> list[str]:
    """The first ``max_failures`` failing cases: input, expected, and the output of a failing
    run and why it failed."""
    failing = cand.failing()
    if not failing:
        return []
    shown = failing[:max_failures]
    lines = [
        f"### Failing cases ({len(failing)} of {len(cand.cases)})",
        "",
        "| Case | Input | Expected | Got | Why |",
        "|---|---|---|---|---|",
    ]
    for case in shown:
        # the first failing run: a case that failed 2 of 3 runs may have passed its first
        run = next((r for r in case.runs if not r.passed), case.runs[0])
        why = run.error or "; ".join(
            f"{ch.kind}: {ch.detail}" if ch.detail else ch.kind
            for ch in run.checks
            if not ch.passed
        )
        frac = f" ({case.pass_fraction:.0%} of runs)" if cand.runs > 1 else ""
        lines.append(
            f"| {code(case.id, 60)} | {code(case.vars)} | "
            f"{code(case.expected) if case.expected is not None else ''} | "
            f"{code(run.output)} | {code(why, 120)}{frac} |"
        )
    if len(failing) > len(shown):
        lines.append(f"\n…and {len(failing) - len(shown)} more (see `--json`).")
    lines.append("")
    return lines


def _plain(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("@", "@\u200b")
