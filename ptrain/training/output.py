"""Output of a training run: the branch, the report, the push, the deploy — or the attempt tag.

The winner is committed on a new branch ``ptrain/train/<name>/<timestamp>`` (never on the current
branch, never moving a deploy tag) with any new eval cases. The commit carries the trailer
``Ptrain-Trained: <name>``, which is how the triggers know when a prompt was last trained. When
nothing is proposed, an empty commit with the same trailer is kept under a tag, so the triggers
wait before trying again. A flagged winner (see training.flags) is never auto-deployed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ptrain.errors import GitError
from ptrain.evaluation.suite import Case
from ptrain.storage.yamlio import dump_roundtrip, load_roundtrip
from ptrain.training.report import render_report
from ptrain.training.triggers import TRAILER


def publish(repo, res, base_text: str, suite, *, push: bool, remote: str, deploy, now) -> None:
    """Commit the winner (or the attempt), push, deploy, and write the report."""
    cfg = repo.config
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    name = res.prompt
    if res.best is not None:
        res.branch = f"ptrain/train/{name}/{stamp}"
        files = {repo.prompt_path(name): res.best.candidate.text.encode()}
        if res.best.candidate.new_cases:
            path, data = _suite_with_cases(repo, name, suite, res.best.candidate.new_cases)
            files[path] = data
        # branch from the tip of the current branch, so the review shows only this change
        tip = repo.git.head_commit() or res.base_commit
        res.commit = repo.git.commit_on_branch(tip, files, _commit_message(res), res.branch)
        if push:
            _push(repo, res, remote, f"refs/heads/{res.branch}")
        if deploy if deploy is not None else cfg.training.auto_deploy:
            if res.best.flags:
                res.notes.append(
                    "not auto-deployed: the winner is flagged ("
                    + "; ".join(res.best.flags)
                    + "); review it and deploy by hand"
                )
            else:
                rec = repo.deploy(
                    name,
                    res.commit,
                    cfg.training.deploy_env,
                    reason=f"auto-deploy of {res.branch}: every gate passed",
                )
                res.deployed = rec.tag
    elif res.baseline is not None:
        # Record the attempt, so the triggers wait min_hours_between before trying again: a
        # commit that changes nothing, carrying the trailer, kept under a tag (travels with
        # clones and pushes; `git log --all` sees it).
        res.attempt_tag = f"ptrain-train/{name}/{stamp}"
        tip = repo.git.head_commit() or res.base_commit
        repo.git.commit_on_branch(tip, {}, _attempt_message(res), f"refs/tags/{res.attempt_tag}")
        if push:
            _push(repo, res, remote, f"refs/tags/{res.attempt_tag}")
    res.report = render_report(res, base_text)
    out_dir = Path(repo.root) / ".ptrain" / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / f"{name.replace('/', '--')}-{stamp}.md"
    report_path.write_text(res.report)
    res.report_path = str(report_path)


def _push(repo, res, remote: str, ref: str) -> None:
    try:
        repo.git.push(remote, [f"{ref}:{ref}"])
    except GitError as exc:  # recorded in the report; the branch or tag stays local
        said = exc.stderr.strip().splitlines() or [exc.message]
        res.notes.append(f"push to {remote} failed: {said[-1]}")
    else:
        res.pushed = True


def _suite_with_cases(repo, name: str, suite, new_cases: list[dict]) -> tuple[str, bytes]:
    """The suite file (YAML) with the new regression cases appended, comments preserved."""

    path = suite.path or f"{repo.config.evals_dir}/{name}.yaml"
    if path.endswith(".jsonl"):
        import json

        old = (repo.git.show_file("HEAD", path) or b"").decode()
        have = {c.id for c in suite.cases}
        lines = [json.dumps(c, ensure_ascii=False) for c in new_cases if c["id"] not in have]
        return path, (old.rstrip("\n") + "\n" + "\n".join(lines) + "\n").lstrip("\n").encode()
    old = repo.git.show_file("HEAD", path)
    doc: Any = (
        load_roundtrip(old.decode(), path)
        if old
        else {"schema_version": 1, "prompt": name, "cases": []}
    )
    have = {str(c.get("id")) for c in doc.get("cases") or []}
    if doc.get("cases") is None:
        doc["cases"] = []
    for c in new_cases:
        Case.model_validate(c)
        if c["id"] not in have:
            doc["cases"].append(c)
    return path, dump_roundtrip(doc).encode()


def _sizes(res) -> str:
    z = res.sizes
    return (
        f"Selected on {z.get('selection', 0)} cases ({z.get('build', 0)} train + "
        f"{z.get('selection_held_out', 0)} held-out); confirmed on {z.get('confirmation', 0)} "
        "held-out cases no selection step saw."
    )


def _attempt_message(res) -> str:
    confirmed = [o for o in res.outcomes if o.result]
    best = max((o.result.metrics.get("success_rate") or 0 for o in confirmed), default=None)
    base = res.baseline.metrics.get("success_rate")
    lines = [
        f"Train {res.prompt} with {', '.join(res.approaches)}: no candidate proposed",
        "",
        f"Current success {base:.2f} (confirmation); best confirmed candidate {best:.2f}."
        if best is not None and base is not None
        else f"{res.scored} candidates scored on selection, none confirmed.",
        _sizes(res),
        f"Spend: {res.spend.get('calls', 0)} calls, {res.spend.get('tokens', 0)} tokens.",
        "",
        f"{TRAILER}: {res.prompt}",
        f"Ptrain-Approach: {', '.join(res.approaches)}",
        "Ptrain-Outcome: not-proposed",
    ]
    return "\n".join(lines) + "\n"


def _commit_message(res) -> str:
    b = res.best
    bm, cm = res.baseline.metrics, b.result.metrics
    sr = f"success {bm.get('success_rate', 0):.2f} → {cm.get('success_rate', 0):.2f}"
    p = b.comparison.p_value
    ci = b.comparison.ci
    lines = [
        f"Train {res.prompt} with {b.candidate.approach}: {sr} (p={p:.3g})"
        if p is not None
        else f"Train {res.prompt} with {b.candidate.approach}: {sr}",
        "",
        re.sub(r"\s+", " ", b.candidate.rationale),
        "",
        _sizes(res) + (f" Gain interval (95%): {ci[0]:+.2f} to {ci[1]:+.2f}." if ci else ""),
        f"Candidates scored: {res.scored}; spend: {res.spend.get('calls', 0)} calls, "
        f"{res.spend.get('tokens', 0)} tokens.",
        *(["", "FLAGGED: " + "; ".join(b.flags)] if b.flags else []),
        "",
        f"{TRAILER}: {res.prompt}",
        f"Ptrain-Approach: {b.candidate.approach}",
        f"Ptrain-Base: {res.base_commit}",
    ]
    return "\n".join(lines) + "\n"
