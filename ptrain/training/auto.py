"""Automatic training: every prompt whose triggers fire and that is eligible gets a run."""

from __future__ import annotations

import re
from collections.abc import Callable

from ptrain.errors import PtrainError


def parse_interval(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text or "")
    if not m:
        raise PtrainError(f"bad interval {text!r}", "use e.g. 30m, 1h, 6h or 1d")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def run_auto(
    repo,
    *,
    budget: Callable,
    push: bool = False,
    open_pr: bool = False,
    remote: str = "origin",
    names: list[str] | None = None,
    approach: str = "auto",
) -> list[dict]:
    """Train what is due; one dict per prompt trained (outcome, branch, report path, PR url)."""
    from ptrain.training.run import train
    from ptrain.training.triggers import status

    out: list[dict] = []
    for st in status(repo, names):
        if not st.should_train:
            continue
        try:
            res = train(repo, st.prompt, approach, budget=budget(), push=push, remote=remote)
        except PtrainError as exc:
            out.append({"prompt": st.prompt, "outcome": f"error: {exc.message}", "branch": None})
            continue
        row = {
            "prompt": st.prompt,
            "approach": res.approaches[0],
            "branch": res.branch,
            "outcome": "proposed" if res.proposed else "no candidate passed the gates",
            "report_path": res.report_path,
            "fired": st.fired,
            "pr_url": None,
        }
        if res.proposed and open_pr:
            from ptrain.review.github import open_or_update_pr, review_instructions

            row["pr_url"] = open_or_update_pr(repo, res, remote=remote)
            if row["pr_url"] is None:  # no GitHub: say how to open the review by hand
                row["review"] = review_instructions(repo, res, remote=remote)
        out.append(row)
    return out
