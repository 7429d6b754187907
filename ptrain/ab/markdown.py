"""The markdown A/B report (``ptrain ab report --report ab.md``): the plan, the verdict, one
table row per variant and the z-tests at the horizon."""

from __future__ import annotations

from ptrain.ab.service import Report
from ptrain.ab.stats import METRICS


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def pct_interval(c: tuple[float, float] | None) -> str:
    return "-" if c is None else f"[{100 * c[0]:.1f}%, {100 * c[1]:.1f}%]"


def rating_text(mean: float | None, interval: tuple[float, float] | None) -> str:
    """``0.712 [0.650, 0.774]``, ``0.712`` with fewer than two ratings, ``-`` with none."""
    text = "-" if mean is None else f"{mean:.3f}"
    if interval:
        text += f" [{interval[0]:.3f}, {interval[1]:.3f}]"
    return text


def render_markdown(rep: Report) -> str:
    exp = rep.experiment
    stopped = f"; stopped {exp.stopped_at}, winner {exp.winner or 'none'}" if exp.stopped_at else ""
    lines = [
        f"# A/B report: {exp.prompt} in {exp.env}",
        "",
        f"Experiment `{exp.id}` ({exp.status}), started {exp.started_at} by {exp.started_by}"
        f"{stopped}.",
        f"Metric: **{rep.metric}** — {METRICS[rep.metric]}. Plan: {rep.verdict.horizon} outcomes "
        f"per variant (baseline {exp.baseline:.3f}, MDE {exp.mde}, alpha {exp.alpha}, "
        f"power {exp.power:.0%}).",
        "",
        f"**Verdict: {rep.verdict.label}**"
        + (f" ({rep.verdict.needed} more outcomes needed)" if rep.verdict.needed else ""),
        "",
        "| variant | version | split | records | success rate | error rate | mean rating | "
        "outcomes | outcome rate (95% CI) | P(best) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in rep.arms:
        lines.append(
            f"| {a.name} | {'v' + str(a.version) if a.version else a.commit[:8]} | {a.weight}% | "
            f"{a.records} | {pct(a.success_rate)} | {pct(a.error_rate)} | "
            f"{rating_text(a.mean_rating, a.rating_ci)} | "
            f"{a.outcomes} | {pct(a.outcome_rate)} {pct_interval(a.outcome_ci)} | "
            f"{pct(a.prob_best)} |"
        )
    if rep.verdict.tests:
        rates = ", ".join(f"{n} {100 * r:.1f}%" for n, r in rep.verdict.rates.items())
        lines += [
            "",
            f"At the horizon (first {rep.verdict.horizon} outcomes each): {rates}. "
            "Two-proportion z-tests, two-sided:",
            "",
        ]
        for t in rep.verdict.tests:
            lines.append(
                f"- {t['variant']} vs {t['vs']}: z = {t['z']:.2f}, p = {t['p_value']:.4g} "
                f"(alpha {t['alpha']:.4g}{', significant' if t['significant'] else ''})"
            )
    lines += ["", *[f"- {n}" for n in rep.notes]]
    return "\n".join(lines) + "\n"
