"""The markdown report of a training run, fit to be a pull-request description.

It shows the verdict, why training ran (the triggers), the sizes of the selection and
confirmation sets, per search round what each operator tried with its minibatch and selection
scores and the feedback / failing cases behind it, the confirmed candidates against the current
version on the confirmation cases (gain, interval, McNemar), any flags, the winner's
before/after table, the diff of the prompt file, and the spend.
"""

from __future__ import annotations

import difflib

from ptrain.evaluation.report import code, render_markdown


def unified_diff(old: str, new: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}")
    )


def _pct(v) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def render_report(res, base_text: str) -> str:
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
    lines += _data_section(res) + _rounds_section(res)
    lines += _confirmation_section(res, base)
    flagged = [o for o in res.outcomes if o.flags and o.selection is not None]
    if flagged:
        lines += ["", "## ⚠️ Flags (never auto-deployed)", ""]
        for o in flagged:
            lines += [f"- *{o.candidate.label}*: " + "; ".join(o.flags)]
    lines.append("")
    if res.best:
        lines += _winner_section(res.best, res, base_text)
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


def _confirmation_section(res, base: str) -> list[str]:
    """Every confirmed candidate against the current version, on the confirmation cases."""
    lines = [
        "## Confirmation",
        "",
        "Scores on the confirmation cases only: no operator and no selection step saw them.",
        "",
        "| Candidate | Operator | Selection | Confirmation | Δ vs current | 95% interval | McNemar p | Verdict |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    bsr = res.baseline.metrics.get("success_rate") if res.baseline else None
    lines.append(
        f"| current {base} | — | {_pct(res.baseline_selection)} | {_pct(bsr)} | | | | baseline |"
    )
    for o in [o for o in res.outcomes if o.result is not None]:
        c = o.candidate
        sr = o.result.metrics.get("success_rate")
        d = (sr - bsr) if sr is not None and bsr is not None else None
        p = o.comparison.p_value if o.comparison else None
        ci = o.comparison.ci if o.comparison else None
        fails = [g.detail for g in (o.comparison.gates if o.comparison else []) if not g.passed]
        verdict = (
            "**winner**"
            if o is res.best
            else ("passes" if o.recommended else "rejected: " + "; ".join(fails))
        )
        lines.append(
            f"| {c.label} | {c.approach} | {_pct(o.selection)} | {_pct(sr)} | "
            f"{'' if d is None else f'{d:+.2f}'} | "
            f"{'' if ci is None else f'{ci[0]:+.2f} … {ci[1]:+.2f}'} | "
            f"{'' if p is None else f'{p:.4f}'} | {verdict} |"
        )
    if not any(o.result is not None for o in res.outcomes):
        lines.append("| (no candidate confirmed) | | | | | | | |")
    return lines


def _winner_section(b, res, base_text: str) -> list[str]:
    """The winner's before/after table, why each change, what drove it, and the diff."""
    lines = [
        "## Before / after",
        "",
        render_markdown(b.comparison).replace("## Evaluation", "### Evaluation"),
        "",
    ]
    lines += ["## Why each change", "", b.candidate.rationale, ""]
    if b.flags:
        lines += ["**Flagged:** " + "; ".join(b.flags) + " — review before deploying.", ""]
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
    return lines


def _data_section(res) -> list[str]:
    z = res.sizes or {}
    return [
        "## Data",
        "",
        f"Selection: {z.get('selection', 0)} cases ({z.get('build', 0)} `split: train` + "
        f"{z.get('selection_held_out', 0)} held-out); confirmation: {z.get('confirmation', 0)} "
        "held-out cases. Candidates are chosen on the selection cases (never on a case they "
        "carry as an example) and reported on the confirmation cases.",
        "",
    ]


def _ids(c) -> str:
    parts = []
    if c.feedback_ids:
        shown = ", ".join(code(i, 24) for i in c.feedback_ids[:5])
        more = f" +{len(c.feedback_ids) - 5}" if len(c.feedback_ids) > 5 else ""
        parts.append(f"feedback {shown}{more}")
    if c.case_ids:
        shown = ", ".join(code(i, 24) for i in c.case_ids[:5])
        more = f" +{len(c.case_ids) - 5}" if len(c.case_ids) > 5 else ""
        parts.append(f"cases {shown}{more}")
    return "; ".join(parts)


def _rounds_section(res) -> list[str]:
    if res.search is None:
        return []
    lines = ["## Search", ""]
    for r in res.search.rounds:
        lines += [
            f"**Round {r.number}** (parent: {r.parent})",
            "",
            "| Candidate | Operator | Minibatch | Selection | Outcome | Built from |",
            "|---|---|---:|---:|---|---|",
        ]
        for e in r.tried:
            c = e.candidate
            lines.append(
                f"| {c.label} | {c.approach} | {_pct(e.minibatch)} | "
                f"{_pct(e.score if e.full else None)} | {e.status} | {_ids(c)} |"
            )
        lines.append("")
    return lines
