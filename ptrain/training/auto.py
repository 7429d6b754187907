"""Automatic training: every prompt whose triggers fire and that is eligible gets a run.

With ``open_pr``, a pull request that could not be opened (a GitHub API or push error) does not
stop the run: the row keeps the trained branch, the error and how to open the review by hand,
the remaining prompts still train, and the prompt is remembered in
``<git dir>/ptrain-auto-pending.json`` so the next ``train auto --open-pr`` trains it again
although its cooldown has not passed (the failed run's trailer commit would otherwise hide it
for ``min_hours_between``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime

from ptrain.errors import PtrainError
from ptrain.review.publish import open_or_update_pr, review_instructions
from ptrain.storage.yamlio import atomic_write
from ptrain.training.run import train
from ptrain.training.triggers import status

PENDING_FILE = "ptrain-auto-pending.json"


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

    out: list[dict] = []
    pending = _pending(repo) if open_pr else {}
    for st in status(repo, names):
        if not st.should_train and st.prompt not in pending:
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
            _open_pr(repo, res, row, remote, pending)
        out.append(row)
    if open_pr:
        _save_pending(repo, pending)
    return out


def _open_pr(repo, res, row: dict, remote: str, pending: dict) -> None:
    try:
        row["pr_url"] = open_or_update_pr(repo, res, remote=remote)
    except PtrainError as exc:  # the branch and the result stay; the next run tries again
        row["pr_error"] = exc.message
        row["pr_hint"] = exc.hint
        row["outcome"] = f"proposed, but the pull request was not opened: {exc.message}" + (
            f" — {exc.hint}" if exc.hint else ""
        )
        row["review"] = review_instructions(repo, res, remote=remote)
        pending[res.prompt] = {
            "branch": res.branch,
            "error": exc.message,
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return
    pending.pop(res.prompt, None)
    if row["pr_url"] is None:  # no GitHub: say how to open the review by hand
        row["review"] = review_instructions(repo, res, remote=remote)


def _pending(repo) -> dict:
    try:
        data = json.loads((repo.git.common_dir / PENDING_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save_pending(repo, pending: dict) -> None:
    path = repo.git.common_dir / PENDING_FILE
    with contextlib.suppress(OSError):  # losing it costs one cooldown period, nothing else
        if pending:
            atomic_write(path, json.dumps(pending, indent=2) + "\n")
        else:
            path.unlink(missing_ok=True)
