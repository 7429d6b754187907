"""Running a prompt over eval cases: outputs, assertions, judge scores, metrics.

``evaluate`` takes a ``LoadedPrompt`` (any version, or an uncommitted candidate: build one with
``LoadedPrompt(name, spec, commit="")``) and a list of cases, calls the task model through
``LLM.batch`` (concurrent, rate-limited, response-cached), checks every output, scores it with the
embedded models (coherence, relevance, ``similar``: quality.py), asks the judge model for rubric
verdicts and the judge metrics (judge.py), and aggregates the metrics with their intervals.

Runs: at temperature 0 one call per case is made and its outcome stands for every run (the
embedded model is deterministic and the response cache would return the same text anyway); at a
higher temperature run *r* is seeded with ``42 + r``, so runs differ from each other but a re-run
is reproducible and served from the cache. A case passes when a strict majority of its runs pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ptrain.errors import PtrainError, ValidationError
from ptrain.evaluation import assertions as A
from ptrain.evaluation import metrics as M
from ptrain.evaluation.judge import batched as _batched
from ptrain.evaluation.judge import judge_all
from ptrain.evaluation.quality import QUALITY_METRICS, Scorers, score_outputs

# the result types live in results.py (metrics and the judge read them without importing the
# runner); importing them from here keeps working
from ptrain.evaluation.results import CaseResult, EvalResult, Progress, RunOutcome
from ptrain.evaluation.store import ResultStore, result_key
from ptrain.evaluation.suite import Case

if TYPE_CHECKING:
    from ptrain.llm.client import LLM
    from ptrain.prompts import LoadedPrompt

SEED = 42
METRICS = (*QUALITY_METRICS, "safety", *(f"judge_{m}" for m in M.JUDGE_METRICS))


def prompt_hash(prompt: LoadedPrompt) -> str:
    blob = json.dumps(prompt.spec.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def cases_hash(cases: Sequence[Case]) -> str:
    blob = json.dumps([c.to_doc() for c in cases], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def evaluate(
    prompt: LoadedPrompt,
    cases: Sequence[Case],
    *,
    llm: LLM,
    judge: LLM | None = None,
    runs: int = 1,
    metrics: Sequence[str] = ("coherence", "relevance", "safety"),
    progress: Progress | None = None,
    concurrency: int = 2,
    store: ResultStore | None = None,
    scorers: Scorers | None = None,
    calibration: dict[str, dict[str, Any]] | None = None,
    blocklist: Sequence[str] = (),
) -> EvalResult:
    """Score ``prompt`` on ``cases`` (resolved cases: ``Suite.test_cases()`` etc.).

    ``metrics``: coherence, relevance (the embedded models, ``scorers``: default
    ``Scorers.local()``, none for a scripted task model), safety (deterministic, always on) and
    judge_coherence / judge_relevance / judge_safety (the judge). ``calibration``: judge metric
    -> status from ``calibration.status``; only a calibrated judge metric can affect a gate.
    With ``store`` an identical earlier evaluation is returned (``cached``) without a model call.
    """
    _check_request(prompt, cases, runs)
    plan = _Plan.of(metrics, cases, llm, judge, scorers, calibration)
    messages = _format_all(prompt, cases)

    temperature = _pick(prompt.spec.model.temperature, llm.settings.temperature)
    max_tokens = _pick(prompt.spec.model.max_tokens, llm.settings.max_tokens)
    model_ident = {**llm.identity(), "temperature": temperature, "max_tokens": max_tokens}
    uses_judge = judge is not None and (bool(plan.judge_metrics) or plan.needs_rubric)
    judge_ident = judge.identity() if uses_judge and judge is not None else None
    p_hash, c_hash = prompt_hash(prompt), cases_hash(cases)
    key = _key(p_hash, c_hash, model_ident, judge_ident, plan, uses_judge, runs, blocklist)
    if store is not None and (hit := store.get(key)) is not None:
        return _from_store(hit, prompt)

    meter = _Meter.start(llm, judge)
    # 1. the task model: one call per case per distinct run
    sampling = dict(temperature=temperature, max_tokens=max_tokens)
    outcomes = _run_task(llm, messages, runs, sampling, concurrency, progress)
    meter.task_done()
    # 2. deterministic checks and safety flags
    _check_all(cases, outcomes, M.fixed_system_text(prompt.spec), blocklist)
    # 3. the embedded scorers: coherence, relevance, `similar`
    quality_notes = _score_quality(plan, cases, outcomes, concurrency, progress)
    # 4. the judge: rubric verdicts and judge metrics, one request per distinct output
    if uses_judge and judge is not None:
        judge_all(judge, cases, outcomes, plan.judge_metrics, concurrency, progress)

    results = _case_results(cases, outcomes)
    values, notes = M.compute(
        results, plan.judge_metrics, uses_judge, plan.quality, plan.calibrated
    )
    result = EvalResult(
        prompt=prompt.name,
        version=prompt.version,
        commit=prompt.commit,
        prompt_hash=p_hash,
        cases_hash=c_hash,
        model=model_ident,
        judge_model=judge_ident,
        runs=runs,
        cases=results,
        metrics=values,
        notes=quality_notes + notes + plan.notes(temperature, runs),
        spend=meter.spend(judge if uses_judge else None),
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        key=key,
        intervals=M.intervals(results, values, "judge_safety" in plan.calibrated),
        calibration=plan.calibration,
        scorers=plan.scorers.identity if plan.needs_embedder else {},
    )
    if store is not None:
        store.put(key, result.to_dict())
    return result


def _check_request(prompt: LoadedPrompt, cases: Sequence[Case], runs: int) -> None:
    """Refuse an evaluation without runs or cases."""
    if runs < 1:
        raise PtrainError(f"runs must be at least 1, not {runs}", "pass --runs 1 or more")
    if not cases:
        raise PtrainError(
            f"no eval cases for {prompt.name}", f"add cases to evals/{prompt.name}.yaml"
        )


def _key(
    p_hash: str,
    c_hash: str,
    model_ident: dict[str, Any],
    judge_ident: dict[str, Any] | None,
    plan: _Plan,
    uses_judge: bool,
    runs: int,
    blocklist: Sequence[str],
) -> str:
    """The result store's key: everything the result depends on."""
    return result_key(
        {
            "prompt": p_hash,
            "cases": c_hash,
            "model": model_ident,
            "judge": judge_ident,
            "metrics": sorted(plan.judge_metrics) if uses_judge else [],
            "runs": runs,
            "v": 2,
            "quality": (plan.quality, plan.scorers.identity) if plan.needs_embedder else None,
            "calibrated": plan.calibrated if uses_judge else [],
            "blocklist": list(blocklist),
        }
    )


def _case_results(cases: Sequence[Case], outcomes: list[list[RunOutcome]]) -> list[CaseResult]:
    """Each case with its runs, a run passing when it has no error and every check passed."""
    for per_case in outcomes:
        for o in per_case:
            o.passed = o.error is None and all(c.passed for c in o.checks)
    return [
        CaseResult(c.id, dict(c.vars), c.expected, per_case, list(c.tags), c.source)
        for c, per_case in zip(cases, outcomes, strict=True)
    ]


def _from_store(hit: dict[str, Any], prompt: LoadedPrompt) -> EvalResult:
    res = EvalResult.from_dict(hit)
    # The stored result may come from an identical prompt at another commit.
    res.prompt, res.version, res.commit = prompt.name, prompt.version, prompt.commit
    res.cached = True
    return res


def _run_task(
    llm: LLM,
    messages: list[list[tuple[str, str]]],
    runs: int,
    sampling: dict[str, Any],
    concurrency: int,
    progress: Progress | None,
) -> list[list[RunOutcome]]:
    """One outcome per case per run: at temperature 0 one call per case stands for every run
    (the copies are ``replayed``), else run *r* is its own call seeded with ``SEED + r``."""
    temperature = sampling["temperature"]
    distinct_runs = 1 if temperature == 0 else runs
    outcomes: list[list[RunOutcome]] = [[] for _ in messages]
    total = len(messages) * distinct_runs
    done = 0
    for r in range(distinct_runs):
        seed = None if temperature == 0 else SEED + r

        def tick(n: int, done_before: int = done) -> None:
            if progress:
                progress("model", done_before + n, total)

        replies = _batched(llm, messages, {**sampling, "seed": seed}, concurrency, tick)
        done += len(messages)
        for i, reply in enumerate(replies):
            outcomes[i].append(_outcome(r, reply))
    for per_case in outcomes:
        for r in range(distinct_runs, runs):
            copy = RunOutcome.from_dict(per_case[0].to_dict())
            copy.run, copy.replayed = r, True
            per_case.append(copy)
    return outcomes


def _score_quality(
    plan: _Plan,
    cases: Sequence[Case],
    outcomes: list[list[RunOutcome]],
    concurrency: int,
    progress: Progress | None,
) -> list[str]:
    """The embedded scorers over every outcome (one ``scoring`` stage); their notes."""
    if progress and plan.needs_embedder:
        progress("scoring", 0, 1)
    notes = score_outputs(plan.scorers, cases, outcomes, plan.quality, concurrency)
    if progress and plan.needs_embedder:
        progress("scoring", 1, 1)
    return notes


@dataclass
class _Meter:
    """The task model's and the judge's counters at the start, for the evaluation's spend."""

    llm: LLM
    judge: LLM | None
    calls: int
    hits: int
    dollars: float
    judge_calls: int = 0
    judge_hits: int = 0
    judge_dollars: float = 0.0
    model_calls: int = 0

    @classmethod
    def start(cls, llm: LLM, judge: LLM | None) -> _Meter:
        m = cls(llm, judge, llm.calls_made, llm.stats.cache_hits, llm.stats.dollars)
        if judge is not None:
            m.judge_hits, m.judge_dollars = judge.stats.cache_hits, judge.stats.dollars
        return m

    def task_done(self) -> None:
        """After the task model's calls: the judge's calls count from here (it may be the same
        model)."""
        self.model_calls = self.llm.calls_made - self.calls
        if self.judge is not None:
            self.judge_calls = self.judge.calls_made

    def spend(self, judge: LLM | None) -> dict[str, Any]:
        """``judge``: the judge if it was used, else None."""
        llm = self.llm
        other = judge if judge is not None and judge is not llm else None
        return {
            "model_calls": self.model_calls,
            "judge_calls": (judge.calls_made - self.judge_calls) if judge is not None else 0,
            "cache_hits": llm.stats.cache_hits
            - self.hits
            + ((other.stats.cache_hits - self.judge_hits) if other is not None else 0),
            "cost_usd": round(
                llm.stats.dollars
                - self.dollars
                + ((other.stats.dollars - self.judge_dollars) if other is not None else 0),
                6,
            ),
        }


@dataclass
class _Plan:
    """What an evaluation scores, resolved from its ``metrics`` and options."""

    judge_metrics: list[str]
    quality: list[str]
    needs_embedder: bool
    needs_rubric: bool
    scorers: Scorers
    calibration: dict[str, dict[str, Any]]
    calibrated: list[str]

    @classmethod
    def of(
        cls,
        metrics: Sequence[str],
        cases: Sequence[Case],
        llm: LLM,
        judge: LLM | None,
        scorers: Scorers | None,
        calibration: dict[str, dict[str, Any]] | None,
    ) -> _Plan:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise PtrainError(f"unknown metric {unknown[0]!r}", f"choose from {', '.join(METRICS)}")
        needs_rubric = any(a.kind == "llm_rubric" for c in cases for a in c.assertions())
        if needs_rubric and judge is None:
            raise PtrainError(
                "the suite has llm_rubric assertions but no judge model was given",
                "configure training.model in ptrain.yaml (the judge)",
            )
        judge_metrics = [m.removeprefix("judge_") for m in metrics if m.startswith("judge_")]
        quality = [m for m in QUALITY_METRICS if m in metrics]
        needs_embedder = bool(quality) or any(
            a.kind == "similar" for c in cases for a in c.assertions()
        )
        if scorers is None:
            scripted = llm.settings.provider == "scripted"
            scorers = Scorers.none() if scripted or not needs_embedder else Scorers.local()
        given = calibration or {}
        status = {
            f"judge_{m}": given.get(f"judge_{m}") or {"calibrated": False, "why": "not run"}
            for m in judge_metrics
        }
        calibrated = sorted(k for k, v in status.items() if v.get("calibrated"))
        return cls(
            judge_metrics, quality, needs_embedder, needs_rubric, scorers, status, calibrated
        )

    def notes(self, temperature: float, runs: int) -> list[str]:
        """What a reader of the result should know about the scorers, the judge and the runs."""
        notes = []
        if self.quality and self.scorers.embedder_factory is None:
            notes.append(
                f"{', '.join(self.quality)}: no embedded scorers for a scripted task model"
            )
        for metric_key, st in self.calibration.items():
            if not st.get("calibrated"):
                notes.append(f"{metric_key} {describe_calibration(st)}: shown, never a gate")
        if temperature == 0 and runs > 1:
            notes.append(f"temperature 0: one call per case stands for all {runs} runs")
        return notes


def _check_all(
    cases: Sequence[Case],
    outcomes: list[list[RunOutcome]],
    fixed: list[str],
    blocklist: Sequence[str],
) -> None:
    """Safety flags and the deterministic assertions of every outcome."""
    for case, per_case in zip(cases, outcomes, strict=True):
        for o in per_case:
            if o.error is None:
                o.flags = M.safety_flags(o.output, case.vars, fixed, blocklist)
                if M.is_refusal(o.output):
                    o.flags.append("refusal")
            for a in case.assertions():
                if a.kind == "llm_rubric" or (a.kind == "similar" and o.error is None):
                    continue  # the judge's and the embedder's
                if o.error is not None:
                    o.checks.append(A.Check(a.kind, False, "model call failed"))
                    continue
                o.checks.append(
                    A.check(
                        a,
                        o.output,
                        expected=case.expected,
                        latency_ms=o.latency_ms,
                        completion_tokens=o.completion_tokens,
                        cached=o.cached,
                    )
                )


def _pick(hint: Any, default: Any) -> Any:
    return default if hint is None else hint


def _format_all(prompt: LoadedPrompt, cases: Sequence[Case]) -> list[list[tuple[str, str]]]:
    out = []
    for c in cases:
        missing = [v for v in prompt.input_variables if v not in c.vars]
        if missing:
            raise ValidationError(
                f"case {c.id!r} has no value for {prompt.name}'s input variable '{missing[0]}'",
                f"add `{missing[0]}: ...` to the case's vars",
            )
        out.append(prompt.format_messages(**c.vars))
    return out


def _outcome(run: int, reply: Any) -> RunOutcome:
    if isinstance(reply, Exception):
        msg = getattr(reply, "message", None) or str(reply) or type(reply).__name__
        return RunOutcome(run=run, output="", passed=False, error=msg)
    return RunOutcome(
        run=run,
        output=reply.text,
        passed=False,
        latency_ms=None if reply.cached else round(reply.latency_ms, 1),
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cached=reply.cached,
    )


def describe_calibration(status: dict[str, Any]) -> str:
    """``calibrated (κ=0.82)``, ``uncalibrated (κ=0.05)`` or ``uncalibrated (not run)``."""
    word = "calibrated" if status.get("calibrated") else "uncalibrated"
    value = status.get("agreement")
    if value is None:
        return f"{word} ({status.get('why') or 'not run'})"
    sym = "ρ" if status.get("statistic") == "spearman" else "κ"
    return f"{word} ({sym}={value:.2f})"
