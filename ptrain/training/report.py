"""The markdown report of a training run, fit to be a pull-request description.

It shows the verdict, why training ran (the triggers), every candidate and its score against
the current version with significance, the winner's before/after table, the diff of the prompt
file, the feedback records that drove each change (quoted as data), and the spend.
"""

from __future__ import annotations

from ptrain.evaluation.report import code, render_markdown


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def render_report(res, base_text: str) -> str:
    from ptrain.training.run import unified_diff

    lines = [f"# ptrain training: `{res.prompt}`", ""]
    base = f"v{res.base_version}" if res.base_version else res.base_commit[:8]
    if res.best:
        b = res.best
        lines += [
            f"✅ **Proposed:** candidate *{b.candidate.label}* ({b.candidate.approach}) beats {base} "
            f"and passes every deployment gate. Branch `{res.branch}`.",
            "",
        ]
    else:
        lines += [
            f"❌ **No candidate proposed:** none beat {base} significantly while passing every gate. "
            "The current version stays.",
            "",
        ]
    t = res.trigger
    if t is not None:
        why = "; ".join(t.fired) if t.fired else "no trigger fired (run by hand)"
        lines += [f"**Why now:** {why}. **Approach:** {', '.join(res.approaches)}.", ""]
    lines += [
        "## Candidates",
        "",
        "| Candidate | Approach | Success | Δ vs current | McNemar p | Verdict |",
        "|---|---|---:|---:|---:|---|",
    ]
    bsr = res.baseline.metrics.get("success_rate") if res.baseline else None
    lines.append(f"| current {base} | — | {_pct(bsr)} | | | baseline |")
    for o in res.outcomes:
        c = o.candidate
        if o.result is None:
            lines.append(f"| {c.label} | {c.approach} | | | | rejected: {o.rejected} |")
            continue
        sr = o.result.metrics.get("success_rate")
        d = (sr - bsr) if sr is not None and bsr is not None else None
        p = o.comparison.p_value if o.comparison else None
        fails = [g.detail for g in (o.comparison.gates if o.comparison else []) if not g.passed]
        verdict = (
            "**winner**"
            if o is res.best
            else ("passes" if o.recommended else "rejected: " + "; ".join(fails))
        )
        lines.append(
            f"| {c.label} | {c.approach} | {_pct(sr)} | {'' if d is None else f'{d:+.2f}'} | "
            f"{'' if p is None else f'{p:.4f}'} | {verdict} |"
        )
    lines.append("")
    if res.best:
        b = res.best
        lines += [
            "## Before / after",
            "",
            render_markdown(b.comparison).replace("## Evaluation", "### Evaluation"),
            "",
        ]
        lines += ["## Why each change", "", b.candidate.rationale, ""]
        drivers = [i for i in b.candidate.feedback_ids][:20]
        if drivers:
            lines += [
                f"Feedback records that drove it ({len(b.candidate.feedback_ids)}): "
                + ", ".join(code(i, 40) for i in drivers),
                "",
            ]
        if b.candidate.case_ids:
            lines += [
                "Eval cases used to build it (train split): "
                + ", ".join(code(i, 40) for i in b.candidate.case_ids[:20]),
                "",
            ]
        if b.candidate.new_cases:
            lines += [
                f"{len(b.candidate.new_cases)} new regression cases are added to the eval suite.",
                "",
            ]
        diff = unified_diff(base_text, b.candidate.text, f"prompts/{res.prompt}.yaml")
        lines += ["## Diff", "", "```diff", diff.rstrip(), "```", ""]
    if res.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in dict.fromkeys(res.notes)] + [""]
    s = res.spend
    lines += [
        f"**Spend:** {s.get('calls', 0)} model calls, {s.get('tokens', 0):,} tokens, "
        f"${s.get('dollars', 0):.4f}, {s.get('cache_hits', 0)} cache hits"
        + (" — budget reached" if res.budget_exhausted else "")
        + ".",
        "",
    ]
    return "\n".join(lines)
