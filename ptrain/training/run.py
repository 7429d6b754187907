"""``train``: build candidates, score them on held-out cases, propose the winner on a branch.

1. Data. The prompt's feedback and the eval suite's ``split: train`` cases are what approaches
   *build* from; the suite's other cases are held out and only ever used to *score*. Feedback
   whose inputs equal a held-out case is dropped from the build data, so nothing is scored on
   what it was built from.
2. Candidates. The chosen approach (or, with ``auto``, the one the triggers pick; with ``all``,
   every configured approach competing on the same data) proposes candidates under one budget
   shared by the task model, the optimizer and the judge.
3. Search. The current version and every candidate run on the held-out cases; a candidate is
   proposed only if it passes every deployment gate, including a significant improvement over
   the current version (McNemar). The best such candidate wins.
4. Output. The winner is committed on a new branch ``ptrain/train/<name>/<timestamp>`` (never on
   the current branch, never moving a deploy tag) with any new eval cases, and a markdown report
   is written. The commit carries the trailer ``Ptrain-Trained: <name>``, which is how the
   triggers know when a prompt was last trained.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ptrain.config import APPROACHES
from ptrain.errors import BudgetExceeded, PtrainError, ValidationError
from ptrain.prompts import LoadedPrompt
from ptrain.training.base import Candidate, Interaction, TrainContext, interactions_from_feedback
from ptrain.training.edits import checked
from ptrain.training.triggers import TRAILER, TriggerStatus, evaluate_triggers, last_trained

Progress = Callable[[str, int, int], None]
DEV_CASES = 12  # build cases meta_prompt scores its rewrites on (the OPRO trajectory)


@dataclass
class CandidateOutcome:
    candidate: Candidate
    result: Any = None  # EvalResult
    comparison: Any = None  # Comparison
    rejected: str | None = None

    @property
    def recommended(self) -> bool:
        return self.comparison is not None and self.comparison.recommended

    def to_dict(self) -> dict:
        c = self.candidate
        return {
            "approach": c.approach,
            "label": c.label,
            "digest": c.digest,
            "rationale": c.rationale,
            "feedback_ids": c.feedback_ids,
            "case_ids": c.case_ids,
            "new_cases": len(c.new_cases),
            "rejected": self.rejected,
            "recommended": self.recommended,
            "metrics": self.result.metrics if self.result else None,
            "p_value": self.comparison.p_value if self.comparison else None,
            "reasons": self.comparison.reasons if self.comparison else [],
        }


@dataclass
class TrainResult:
    prompt: str
    approaches: list[str]
    base_version: int | None
    base_commit: str
    baseline: Any = None
    outcomes: list[CandidateOutcome] = field(default_factory=list)
    best: CandidateOutcome | None = None
    branch: str | None = None
    commit: str | None = None
    pushed: bool = False
    deployed: str | None = None
    report: str = ""
    report_path: str | None = None
    spend: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    trigger: TriggerStatus | None = None
    budget_exhausted: bool = False
    attempt_tag: str | None = None  # when nothing was proposed: the tag recording the attempt

    @property
    def proposed(self) -> bool:
        return self.branch is not None

    def to_dict(self) -> dict:
        return {
            "prompt": self.prompt,
            "approaches": self.approaches,
            "base_version": self.base_version,
            "base_commit": self.base_commit,
            "proposed": self.proposed,
            "branch": self.branch,
            "commit": self.commit,
            "pushed": self.pushed,
            "deployed": self.deployed,
            "report_path": self.report_path,
            "baseline_metrics": self.baseline.metrics if self.baseline else None,
            "best": self.best.to_dict() if self.best else None,
            "candidates": [o.to_dict() for o in self.outcomes],
            "spend": self.spend,
            "notes": self.notes,
            "trigger": self.trigger.to_dict() if self.trigger else None,
            "budget_exhausted": self.budget_exhausted,
            "attempt_tag": self.attempt_tag,
        }


def _labels(cases) -> list[str]:
    labels: list[str] = []
    for c in cases:
        for a in c.assert_:
            for lab in a.one_of or []:
                if lab not in labels:
                    labels.append(lab)
    return labels


def _case_key(vars_: dict) -> str:
    return "\n".join(f"{k}: {v}" for k, v in sorted(vars_.items())).strip().lower()


def _pick_approaches(
    approach: str, trigger: TriggerStatus | None, configured: list[str]
) -> list[str]:
    if approach == "all":
        return list(configured)
    if approach == "auto":
        return [trigger.approach if trigger and trigger.approach else "few_shot"]
    if approach not in APPROACHES:
        raise PtrainError(
            f"unknown approach {approach!r}",
            "use few_shot, reinforcement, meta_prompt, adversarial, auto or all",
        )
    return [approach]


def train(
    repo,
    name: str,
    approach: str = "auto",
    *,
    budget=None,
    candidates: int | None = None,
    runs: int | None = None,
    seed: int = 0,
    push: bool = False,
    remote: str = "origin",
    deploy: bool | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> TrainResult:
    from ptrain.evaluation import compare, evaluate, load_suite
    from ptrain.evaluation.service import response_cache_dir
    from ptrain.evaluation.store import ResultStore
    from ptrain.feedback import iter_feedback
    from ptrain.llm.budget import Budget
    from ptrain.llm.client import LLM

    cfg = repo.config
    tick = progress or (lambda *_: None)
    base_v = repo.resolve(name, "latest")  # a candidate builds on the branch, not the deploy
    text = repo.read_text(name, base_v.commit)
    prompt = LoadedPrompt(name, checked(text, repo.prompt_path(name)), base_v.commit, base_v.number)

    suite = load_suite(repo, name)
    held_out = suite.test_cases()
    if not held_out:
        raise PtrainError(
            f"{name} has no held-out eval cases to score candidates on",
            f"add cases to evals/{name}.yaml (e.g. `ptrain evals from-feedback {name}`)",
        )
    held_keys = {_case_key(c.vars) for c in held_out}
    records = list(iter_feedback(repo.root, name))
    interactions, suggestions = interactions_from_feedback(records)
    leaked = [i for i in interactions if _case_key(i.inputs) in held_keys]
    interactions = [i for i in interactions if _case_key(i.inputs) not in held_keys]
    for c in suite.train_cases():
        if c.expected is not None:
            interactions.append(
                Interaction(
                    c.id,
                    {k: str(v) for k, v in c.vars.items()},
                    c.expected,
                    True,
                    None,
                    None,
                    "eval",
                )
            )

    since = last_trained(repo, name)
    trigger = evaluate_triggers(name, records, since, cfg.auto_training, now)
    chosen = _pick_approaches(approach, trigger, cfg.training.approaches)
    budget = budget or Budget.from_config(cfg.training.budget)
    cache = response_cache_dir(repo)
    task_settings = cfg.task()
    task = LLM(task_settings, cache_dir=cache, budget=budget)
    optimizer = LLM(cfg.optimizer(), cache_dir=cache, budget=budget)
    store = ResultStore.for_repo(repo.root)
    runs = runs or cfg.evaluation.test_runs
    metrics = list(cfg.evaluation.metrics)
    thresholds = cfg.evaluation.thresholds_for(name)
    n = candidates or cfg.training.candidates

    res = TrainResult(name, chosen, base_v.number, base_v.commit, trigger=trigger)
    if leaked:
        res.notes.append(
            f"{len(leaked)} feedback interactions equal held-out cases and were not used to build candidates"
        )

    def score(p: LoadedPrompt, what: str):
        # An evaluation is all or nothing: scoring half the cases would compare apples to pears.
        left = budget.remaining()["calls"]
        if left is not None and left < len(held_out):
            raise BudgetExceeded(
                f"{left} calls left, {len(held_out)} needed to score {what}", "raise --budget"
            )
        result = evaluate(
            p,
            held_out,
            llm=task,
            judge=optimizer,
            runs=runs,
            metrics=metrics,
            progress=lambda stage, d, t: tick(f"{what}: {stage}", d, t),
            store=store,
        )
        if any("budget" in (r.error or "").lower() for c in result.cases for r in c.runs):
            raise BudgetExceeded(f"the budget ran out while scoring {what}", "raise --budget")
        return result

    try:
        tick("baseline", 0, 1)
        res.baseline = score(prompt, f"current {base_v.label()}")
        build_cases = suite.train_cases()

        # OPRO's trajectory scores come from a small slice of the build data: cheap, and never
        # the held-out cases.
        dev_cases = build_cases[:DEV_CASES]

        def dev_score(candidate_text: str) -> float:
            if len(dev_cases) < 4:
                return 0.0
            p = LoadedPrompt(name, checked(candidate_text), "", None)
            r = evaluate(p, dev_cases, llm=task, judge=None, runs=1, metrics=[], store=store)
            return float(r.metrics.get("success_rate") or 0.0)

        from ptrain.training import approaches as registry

        seen = {prompt_digest(text)}
        for a in chosen:
            ctx = TrainContext(
                repo=repo,
                name=name,
                prompt=prompt,
                text=text,
                interactions=interactions,
                suggestions=suggestions,
                optimizer=optimizer,
                task=task,
                embedder_factory=lambda: _embedder(cfg),
                labels=_labels(held_out + build_cases),
                metrics={k: v for k, v in res.baseline.metrics.items() if isinstance(v, float)},
                dev_score=dev_score if build_cases else None,
                seed=seed,
            )
            tick(f"{a}: proposing", 0, 1)
            try:
                proposed = registry.get(a).propose(ctx, n)
            finally:
                res.notes.extend(ctx.notes)
            for cand in proposed:
                out = CandidateOutcome(cand)
                res.outcomes.append(out)
                if prompt_digest(cand.text) in seen:
                    out.rejected = "duplicate of the current version or another candidate"
                    continue
                seen.add(prompt_digest(cand.text))
                try:
                    spec = checked(cand.text)
                except ValidationError as exc:
                    out.rejected = f"invalid prompt: {exc.message}"
                    continue
                cp = LoadedPrompt(name, spec, "", None)
                out.result = score(cp, cand.label)
                out.comparison = compare(
                    out.result, res.baseline, thresholds, cfg.evaluation.significance
                )
    except BudgetExceeded as exc:
        res.budget_exhausted = True
        res.notes.append(f"budget reached: {exc.message}; candidates not yet scored were dropped")

    res.spend = budget.spent.as_dict()
    winners = [o for o in res.outcomes if o.recommended]
    if winners:
        res.best = max(
            winners,
            key=lambda o: (
                o.result.metrics.get("success_rate") or 0,
                -(o.result.metrics.get("tokens_per_call") or 0),
            ),
        )
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    if res.best is not None:
        res.branch = f"ptrain/train/{name}/{stamp}"
        files = {repo.prompt_path(name): res.best.candidate.text.encode()}
        if res.best.candidate.new_cases:
            path, data = _suite_with_cases(repo, name, suite, res.best.candidate.new_cases)
            files[path] = data
        # branch from the tip of the current branch, so the review shows only this change
        tip = repo.git.head_commit() or base_v.commit
        res.commit = repo.git.commit_on_branch(tip, files, _commit_message(res), res.branch)
        if push:
            p = repo.git.run(
                "push", remote, f"refs/heads/{res.branch}:refs/heads/{res.branch}", check=False
            )
            if p.returncode != 0:
                res.notes.append(
                    f"push to {remote} failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}"
                )
            else:
                res.pushed = True
        if deploy if deploy is not None else cfg.training.auto_deploy:
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
        tip = repo.git.head_commit() or base_v.commit
        repo.git.commit_on_branch(tip, {}, _attempt_message(res), f"refs/tags/{res.attempt_tag}")
        if push:
            ref = f"refs/tags/{res.attempt_tag}"
            p = repo.git.run("push", remote, f"{ref}:{ref}", check=False)
            res.pushed = p.returncode == 0
    from ptrain.training.report import render_report

    res.report = render_report(res, text)
    out_dir = Path(repo.root) / ".ptrain" / "reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / f"{name.replace('/', '--')}-{stamp}.md"
    report_path.write_text(res.report)
    res.report_path = str(report_path)
    return res


def prompt_digest(text: str) -> str:
    """Identity of a prompt's content, ignoring comments and formatting."""
    import hashlib
    import json

    try:
        spec = checked(text)
        blob = json.dumps(spec.model_dump(mode="json"), sort_keys=True)
    except ValidationError:
        blob = text
    return hashlib.sha256(blob.encode()).hexdigest()


def _embedder(cfg):
    from ptrain.llm.embed import embedder

    return embedder(cfg.models.embedder)


def _suite_with_cases(repo, name: str, suite, new_cases: list[dict]) -> tuple[str, bytes]:
    """The suite file (YAML) with the new regression cases appended, comments preserved."""
    from ptrain.evaluation.suite import Case
    from ptrain.storage.yamlio import dump_roundtrip, load_roundtrip

    path = suite.path or f"{repo.config.evals_dir}/{name}.yaml"
    if path.endswith(".jsonl"):
        import json

        old = (repo.git.show_file("HEAD", path) or b"").decode()
        have = {c.id for c in suite.cases}
        lines = [json.dumps(c, ensure_ascii=False) for c in new_cases if c["id"] not in have]
        return path, (old.rstrip("\n") + "\n" + "\n".join(lines) + "\n").lstrip("\n").encode()
    old = repo.git.show_file("HEAD", path)
    doc = (
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


def _attempt_message(res: TrainResult) -> str:
    scored = [o for o in res.outcomes if o.result]
    best = max((o.result.metrics.get("success_rate") or 0 for o in scored), default=None)
    base = res.baseline.metrics.get("success_rate")
    lines = [
        f"Train {res.prompt} with {', '.join(res.approaches)}: no candidate proposed",
        "",
        f"Current success {base:.2f}; best candidate {best:.2f} of {len(scored)} scored."
        if best is not None and base is not None
        else f"{len(scored)} candidates scored.",
        f"Spend: {res.spend.get('calls', 0)} calls, {res.spend.get('tokens', 0)} tokens.",
        "",
        f"{TRAILER}: {res.prompt}",
        f"Ptrain-Approach: {', '.join(res.approaches)}",
        "Ptrain-Outcome: not-proposed",
    ]
    return "\n".join(lines) + "\n"


def _commit_message(res: TrainResult) -> str:
    b = res.best
    bm, cm = res.baseline.metrics, b.result.metrics
    sr = f"success {bm.get('success_rate', 0):.2f} → {cm.get('success_rate', 0):.2f}"
    p = b.comparison.p_value
    lines = [
        f"Train {res.prompt} with {b.candidate.approach}: {sr} (p={p:.3g})"
        if p is not None
        else f"Train {res.prompt} with {b.candidate.approach}: {sr}",
        "",
        re.sub(r"\s+", " ", b.candidate.rationale),
        "",
        f"Candidates scored: {sum(1 for o in res.outcomes if o.result)}; spend: {res.spend.get('calls', 0)} calls, {res.spend.get('tokens', 0)} tokens.",
        "",
        f"{TRAILER}: {res.prompt}",
        f"Ptrain-Approach: {b.candidate.approach}",
        f"Ptrain-Base: {res.base_commit}",
    ]
    return "\n".join(lines) + "\n"


def unified_diff(old: str, new: str, path: str) -> str:
    return "".join(
        difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}")
    )
