"""``train``: prepare the data, search, confirm, publish — each step its own module.

1. **Data** (training.data): build data (feedback + ``split: train`` cases), selection cases
   (build cases + part of the held-out cases) and confirmation cases (the rest of the held-out
   cases, seen by nothing but the final test).
2. **Operators** (training.approaches): example selection, contrastive rules, instruction rewrite,
   adversarial hardening and the reflective rewrite propose candidates. ``--approach`` restricts
   them; ``auto`` runs the trigger's choice first and the others after it; ``all`` runs all.
3. **Search** (training.search): several rounds over a Pareto pool with racing on minibatches,
   crossing instruction variants with example sets, under one budget shared by the task model,
   the optimizer (``training.model``) and the judge.
4. **Confirmation** (training.confirm): the best candidates by selection score run on the
   confirmation cases; the first that passes every gate (McNemar against the current version at
   a Bonferroni-corrected level) wins. Its reported numbers are the confirmation set's.
5. **Output** (training.output): branch, report, push, deploy — or the attempt tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ptrain.errors import BudgetExceeded, PtrainError
from ptrain.evaluation import evaluate
from ptrain.evaluation.service import evaluation_options, response_cache_dir
from ptrain.evaluation.store import ResultStore
from ptrain.llm.budget import Budget
from ptrain.llm.client import LLM
from ptrain.prompts import LoadedPrompt
from ptrain.training.base import Candidate, TrainContext
from ptrain.training.confirm import CONFIRM_TOP, confirm
from ptrain.training.data import prepare
from ptrain.training.edits import checked
from ptrain.training.flags import flags_for
from ptrain.training.output import publish
from ptrain.training.report import unified_diff  # noqa: F401  (re-exported for the report)
from ptrain.training.search import Entry, Search, SearchLog, digest_of
from ptrain.training.triggers import TriggerStatus, evaluate_triggers, last_trained

Progress = Callable[[str, int, int], None]
OPERATOR_ORDER = ("few_shot", "reinforcement", "reflective", "meta_prompt", "adversarial")
ROUNDS = 3


@dataclass
class CandidateOutcome:
    candidate: Candidate
    result: Any = None  # EvalResult on the confirmation cases (None: not confirmed)
    comparison: Any = None  # Comparison with the current version on the confirmation cases
    rejected: str | None = None
    selection: float | None = None
    minibatch: float | None = None
    round: int = 0
    flags: list[str] = field(default_factory=list)

    @property
    def recommended(self) -> bool:
        return self.comparison is not None and self.comparison.recommended

    def to_dict(self) -> dict:
        c = self.candidate
        return {
            "approach": c.approach,
            "label": c.label,
            "digest": c.digest,
            "round": self.round,
            "rationale": c.rationale,
            "feedback_ids": c.feedback_ids,
            "case_ids": c.case_ids,
            "new_cases": len(c.new_cases),
            "rejected": self.rejected,
            "recommended": self.recommended,
            "selection_score": self.selection,
            "minibatch_score": self.minibatch,
            "metrics": self.result.metrics if self.result else None,
            "p_value": self.comparison.p_value if self.comparison else None,
            "ci": self.comparison.ci if self.comparison else None,
            "reasons": self.comparison.reasons if self.comparison else [],
            "flags": self.flags,
        }


@dataclass
class TrainResult:
    prompt: str
    approaches: list[str]
    base_version: int | None
    base_commit: str
    baseline: Any = None  # the current version on the confirmation cases
    baseline_selection: float | None = None
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
    sizes: dict = field(default_factory=dict)
    search: SearchLog | None = None

    @property
    def proposed(self) -> bool:
        return self.branch is not None

    @property
    def scored(self) -> int:
        return sum(1 for o in self.outcomes if o.selection is not None)

    @property
    def top(self) -> CandidateOutcome | None:
        """The search's choice by selection score (what would be proposed if it confirms)."""
        ranked = [o for o in self.outcomes if o.selection is not None]
        return max(ranked, key=lambda o: o.selection or 0.0) if ranked else None

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
            "baseline_selection": self.baseline_selection,
            "sizes": self.sizes,
            "best": self.best.to_dict() if self.best else None,
            "candidates": [o.to_dict() for o in self.outcomes],
            "rounds": [
                {"round": r.number, "parent": r.parent, "tried": [e.label for e in r.tried]}
                for r in (self.search.rounds if self.search else [])
            ],
            "spend": self.spend,
            "notes": self.notes,
            "trigger": self.trigger.to_dict() if self.trigger else None,
            "budget_exhausted": self.budget_exhausted,
            "attempt_tag": self.attempt_tag,
        }


def pick_operators(
    approach: str, trigger: TriggerStatus | None, configured: list[str]
) -> list[str]:
    """The operators of a run, in order: those of ``training.approaches``; ``auto`` puts the
    trigger's choice first (when it is configured), then the rest."""
    everything = [a for a in OPERATOR_ORDER if a in configured] or list(OPERATOR_ORDER)
    if approach == "all":
        return everything
    if approach == "auto":
        first = trigger.approach if trigger and trigger.approach else everything[0]
        if first not in everything:
            first = everything[0]
        return [first] + [a for a in everything if a != first]
    if approach not in OPERATOR_ORDER:
        raise PtrainError(
            f"unknown approach {approach!r}",
            "use few_shot, reinforcement, meta_prompt, adversarial, reflective, auto or all",
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
    rounds: int = ROUNDS,
    push: bool = False,
    remote: str = "origin",
    deploy: bool | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> TrainResult:
    cfg = repo.config
    data = prepare(repo, name, seed=seed)
    trigger = evaluate_triggers(
        name, data.records, last_trained(repo, name), cfg.auto_training, now
    )
    operators = pick_operators(approach, trigger, cfg.training.approaches)
    budget = budget or Budget.from_config(cfg.training.budget)
    cache = response_cache_dir(repo)
    task = LLM(cfg.task(), cache_dir=cache, budget=budget)
    optimizer = LLM(cfg.optimizer(), cache_dir=cache, budget=budget)
    base = data.base_version
    res = TrainResult(name, operators, base.number, base.commit, trigger=trigger)
    res.notes += data.notes
    res.sizes = data.sizes
    confirmer = _Confirmer(cfg, data, task, optimizer, ResultStore.for_repo(repo.root), budget)
    confirmer.runs = runs or cfg.evaluation.test_runs
    confirmer.tick = progress or (lambda *_: None)
    confirmer.options = evaluation_options(repo, optimizer)
    try:
        res.baseline = confirmer.score(data.prompt, f"current {base.label()}")
        search = Search(
            _context(repo, name, data, res.baseline, optimizer, task, seed),
            operators,
            data.selection,
            task=task,
            store=confirmer.store,
            budget=budget,
            reserve=confirmer.reserve(),
            candidates=candidates or cfg.training.candidates,
            rounds=rounds,
            seed=seed,
            progress=progress,
            held_out=len(data.selection) - len(data.build_cases),
        )
        res.search = search.run(data.text)
        if len(search.selection) < len(data.selection):  # a small budget: fewer cases scored
            n, held = len(search.selection), search.held_out
            res.sizes = {**res.sizes, "selection": n, "selection_held_out": held, "build": n - held}
        res.baseline_selection = res.search.base.score
        res.notes += res.search.notes + [n for r in res.search.rounds for n in r.notes]
        res.budget_exhausted = res.search.budget_stopped
        _confirm(res, confirmer, data)
    except BudgetExceeded as exc:
        res.budget_exhausted = True
        res.notes.append(f"budget reached: {exc.message}; candidates not yet scored were dropped")
    res.spend = budget.spent.as_dict()
    publish(repo, res, data.text, data.suite, push=push, remote=remote, deploy=deploy, now=now)
    return res


def _context(repo, name: str, data, baseline, optimizer, task, seed: int) -> TrainContext:
    """What every proposal operator sees: the prompt, its feedback and the baseline's metrics."""
    cfg = repo.config
    return TrainContext(
        repo=repo,
        name=name,
        prompt=data.prompt,
        text=data.text,
        interactions=data.interactions,
        suggestions=data.suggestions,
        optimizer=optimizer,
        task=task,
        embedder_factory=lambda: _embedder(cfg),
        labels=data.labels,
        metrics={k: v for k, v in baseline.metrics.items() if isinstance(v, float)},
        seed=seed,
    )


class _Confirmer:
    """Scores prompts on the confirmation cases with the configured runs, metrics and judge."""

    def __init__(self, cfg, data, task, judge, store, budget) -> None:
        self.cfg, self.data, self.task, self.judge = cfg, data, task, judge
        self.store, self.budget = store, budget
        self.runs = 1
        self.tick: Progress = lambda *_: None
        self.options: dict = {}  # the repo's scorers, judge calibration and blocklist

    def calls_per_prompt(self) -> int:
        hot = self.data.prompt.spec.model.temperature not in (None, 0, 0.0)
        return len(self.data.confirmation) * (self.runs if hot else 1)

    def reserve(self) -> int:
        return self.calls_per_prompt() * CONFIRM_TOP

    def affordable(self) -> bool:
        left = self.budget.remaining().get("calls")
        return left is None or left >= self.calls_per_prompt()

    def score(self, p: LoadedPrompt, what: str):

        # An evaluation is all or nothing: scoring half the cases would compare apples to pears.
        if not self.affordable():
            left = self.budget.remaining().get("calls")
            raise BudgetExceeded(
                f"{left} calls left, {self.calls_per_prompt()} needed to confirm {what}",
                "raise --budget",
            )
        result = evaluate(
            p,
            self.data.confirmation,
            llm=self.task,
            judge=self.judge,
            runs=self.runs,
            metrics=list(self.cfg.evaluation.metrics),
            progress=lambda stage, d, t: self.tick(f"{what}: {stage}", d, t),
            store=self.store,
            **self.options,
        )
        if any("budget" in (r.error or "").lower() for c in result.cases for r in c.runs):
            raise BudgetExceeded(f"the budget ran out while confirming {what}", "raise --budget")
        return result


def _confirm(res: TrainResult, confirmer: _Confirmer, data) -> None:
    log = res.search
    assert log is not None
    by_digest: dict[str, CandidateOutcome] = {}
    for e in log.entries:
        if e.candidate is None:
            continue
        o = CandidateOutcome(e.candidate, rejected=e.status or None, round=e.round)
        o.selection = e.score if e.full else None
        o.minibatch = e.minibatch
        o.flags = flags_for(e.text, data.text, data.feedback_text)
        res.outcomes.append(o)
        by_digest.setdefault(e.digest, o)
    base_sel = log.base.score or 0.0
    ranked = [e for e in log.ranked() if (e.score or 0.0) > base_sel]
    if not log.ranked() and log.budget_stopped:
        ranked = [e for e in log.ranked_partial() if (e.minibatch or 0.0) > _on(log.base, e)]
        if ranked:
            res.notes.append(
                "the budget stopped the search before any candidate was scored on every "
                "selection case: confirming the best on the minibatch"
            )
    if not ranked and log.ranked():
        res.notes.append(
            f"no candidate beat the current version on the selection cases ({base_sel:.2f})"
        )

    def evaluate(e: Entry):
        return confirmer.score(LoadedPrompt(res.prompt, checked(e.text), "", None), e.label)

    thresholds = confirmer.cfg.evaluation.thresholds_for(res.prompt)
    done = confirm(
        ranked,
        evaluate,
        res.baseline,
        thresholds,
        confirmer.cfg.evaluation.significance,
        affordable=confirmer.affordable,
    )
    for e, result, comp in done:
        o = by_digest[e.digest]
        o.result, o.comparison = result, comp
        o.rejected = None if comp.recommended else "confirmation: " + "; ".join(comp.reasons)
        if comp.recommended and res.best is None:
            res.best = o
    confirmed = {e.digest for e, _, _ in done}
    for e in ranked:
        o = by_digest[e.digest]
        if e.digest not in confirmed and o.result is None:
            o.rejected = (
                e.status
                if e.status.startswith("not confirmed")
                else ("not confirmed: ranked below the confirmed candidates on selection")
            )
    for o in res.outcomes:
        if (
            o.selection is not None
            and o.result is None
            and o.rejected == "scored on every selection case"
        ):
            o.rejected = f"selection {o.selection:.2f} ≤ current {base_sel:.2f}"


def _on(base: Entry, e: Entry) -> float:
    """The current version's score on the cases ``e`` was scored on."""
    xs = [base.scores[c] for c in e.scores if c in base.scores]
    return sum(xs) / len(xs) if xs else 0.0


def prompt_digest(text: str) -> str:
    """Identity of a prompt's content, ignoring comments and formatting."""
    return digest_of(text)


def _embedder(cfg):
    from ptrain.llm.embed import embedder  # lazy: numpy, only when an operator embeds

    return embedder(cfg.models.embedder)
