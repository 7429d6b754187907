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
    if runs < 1:
        raise PtrainError(f"runs must be at least 1, not {runs}", "pass --runs 1 or more")
    if not cases:
        raise PtrainError(
            f"no eval cases for {prompt.name}", f"add cases to evals/{prompt.name}.yaml"
        )
    plan = _Plan.of(metrics, cases, llm, scorers, calibration)
    judge_metrics, quality, needs_embedder = plan.judge_metrics, plan.quality, plan.needs_embedder
    scorers, calibration, calibrated = plan.scorers, plan.calibration, plan.calibrated
    needs_rubric = any(a.kind == "llm_rubric" for c in cases for a in c.assertions())
    if needs_rubric and judge is None:
        raise PtrainError(
            "the suite has llm_rubric assertions but no judge model was given",
            "configure training.model in ptrain.yaml (the judge)",
        )
    messages = _format_all(prompt, cases)

    temperature = _pick(prompt.spec.model.temperature, llm.settings.temperature)
    max_tokens = _pick(prompt.spec.model.max_tokens, llm.settings.max_tokens)
    model_ident = {**llm.identity(), "temperature": temperature, "max_tokens": max_tokens}
    uses_judge = judge is not None and (bool(judge_metrics) or needs_rubric)
    judge_ident = judge.identity() if uses_judge and judge is not None else None
    p_hash, c_hash = prompt_hash(prompt), cases_hash(cases)
    key = result_key(
        {
            "prompt": p_hash,
            "cases": c_hash,
            "model": model_ident,
            "judge": judge_ident,
            "metrics": sorted(judge_metrics) if uses_judge else [],
            "runs": runs,
            "v": 2,
            "quality": (quality, scorers.identity) if needs_embedder else None,
            "calibrated": calibrated if uses_judge else [],
            "blocklist": list(blocklist),
        }
    )
    if store is not None:
        hit = store.get(key)
        if hit is not None:
            res = EvalResult.from_dict(hit)
            # The stored result may come from an identical prompt at another commit.
            res.prompt, res.version, res.commit = prompt.name, prompt.version, prompt.commit
            res.cached = True
            return res

    calls_before, hits_before, dollars_before = (
        llm.calls_made,
        llm.stats.cache_hits,
        llm.stats.dollars,
    )
    if judge is not None:
        j_calls_before, j_hits_before = judge.calls_made, judge.stats.cache_hits
        j_dollars_before = judge.stats.dollars

    # 1. the task model: one call per case per distinct run
    distinct_runs = 1 if temperature == 0 else runs
    outcomes: list[list[RunOutcome]] = [[] for _ in cases]
    total = len(cases) * distinct_runs
    done = 0
    for r in range(distinct_runs):
        seed = None if temperature == 0 else SEED + r

        def tick(n: int, done_before: int = done) -> None:
            if progress:
                progress("model", done_before + n, total)

        replies = _batched(
            llm,
            messages,
            dict(temperature=temperature, max_tokens=max_tokens, seed=seed),
            concurrency,
            tick,
        )
        done += len(messages)
        for i, reply in enumerate(replies):
            outcomes[i].append(_outcome(r, reply))
    for per_case in outcomes:
        for r in range(distinct_runs, runs):
            copy = RunOutcome.from_dict(per_case[0].to_dict())
            copy.run, copy.replayed = r, True
            per_case.append(copy)

    model_calls = llm.calls_made - calls_before
    if judge is not None:
        j_calls_before = judge.calls_made

    # 2. deterministic checks and safety flags
    _check_all(cases, outcomes, M.fixed_system_text(prompt.spec), blocklist)

    # 3. the embedded scorers: coherence, relevance, `similar`
    if progress and needs_embedder:
        progress("scoring", 0, 1)
    quality_notes = score_outputs(scorers, cases, outcomes, quality, concurrency)
    if progress and needs_embedder:
        progress("scoring", 1, 1)

    # 4. the judge: rubric verdicts and judge metrics, one request per distinct output
    if uses_judge and judge is not None:
        judge_all(judge, cases, outcomes, judge_metrics, concurrency, progress)

    for per_case in outcomes:
        for o in per_case:
            o.passed = o.error is None and all(c.passed for c in o.checks)

    results = [
        CaseResult(c.id, dict(c.vars), c.expected, per_case, list(c.tags), c.source)
        for c, per_case in zip(cases, outcomes, strict=True)
    ]
    values, notes = M.compute(results, judge_metrics, uses_judge, quality, calibrated)
    notes = quality_notes + notes
    if quality and scorers.embedder_factory is None:
        notes.append(f"{', '.join(quality)}: no embedded scorers for a scripted task model")
    for metric_key, st in calibration.items():
        if not st.get("calibrated"):
            notes.append(f"{metric_key} {describe_calibration(st)}: shown, never a gate")
    if temperature == 0 and runs > 1:
        notes.append(f"temperature 0: one call per case stands for all {runs} runs")
    jd = judge if uses_judge else None
    other = jd if jd is not None and jd is not llm else None
    spend = {
        "model_calls": model_calls,
        "judge_calls": (jd.calls_made - j_calls_before) if jd is not None else 0,
        "cache_hits": llm.stats.cache_hits
        - hits_before
        + ((other.stats.cache_hits - j_hits_before) if other is not None else 0),
        "cost_usd": round(
            llm.stats.dollars
            - dollars_before
            + ((other.stats.dollars - j_dollars_before) if other is not None else 0),
            6,
        ),
    }
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
        notes=notes,
        spend=spend,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        key=key,
        intervals=M.intervals(results, values, "judge_safety" in calibrated),
        calibration=calibration,
        scorers=scorers.identity if needs_embedder else {},
    )
    if store is not None:
        store.put(key, result.to_dict())
    return result


@dataclass
class _Plan:
    """What an evaluation scores, resolved from its ``metrics`` and options."""

    judge_metrics: list[str]
    quality: list[str]
    needs_embedder: bool
    scorers: Scorers
    calibration: dict[str, dict[str, Any]]
    calibrated: list[str]

    @classmethod
    def of(
        cls,
        metrics: Sequence[str],
        cases: Sequence[Case],
        llm: LLM,
        scorers: Scorers | None,
        calibration: dict[str, dict[str, Any]] | None,
    ) -> _Plan:
        unknown = [m for m in metrics if m not in METRICS]
        if unknown:
            raise PtrainError(f"unknown metric {unknown[0]!r}", f"choose from {', '.join(METRICS)}")
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
        return cls(judge_metrics, quality, needs_embedder, scorers, status, calibrated)


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
