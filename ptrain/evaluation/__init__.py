"""Evaluation: eval suites, the runner, metrics, paired significance and the deploy verdict.

Public API (stable; what training, the CLI and CI call)::

    from ptrain.evaluation import evaluate, compare, load_suite, render_markdown

    suite = load_suite(repo, "support/triage")          # Suite: .cases, .train_cases(), .test_cases()
    task, judge = models_for(repo)                      # ptrain.llm.client.LLM x 2, repo cache
    base = evaluate(repo.load(name, 3), suite.test_cases(), llm=task, judge=judge,
                    runs=3, metrics=["coherence", "relevance", "safety"],
                    progress=None, store=ResultStore.for_repo(repo.root))      # -> EvalResult
    cand = evaluate(candidate_prompt, suite.test_cases(), llm=task, judge=judge, runs=3, ...)
    comp = compare(cand, base, repo.config.evaluation.deployment_thresholds,
                   significance=repo.config.evaluation.significance)           # -> Comparison
    comp.recommended, comp.reasons, comp.p_value, comp.ci, comp.deltas, comp.to_dict()
    render_markdown(comp)                               # PR-ready markdown (also an EvalResult)

``evaluate(prompt, cases, *, llm, judge=None, runs, metrics, progress=None, concurrency=2,
store=None) -> EvalResult``: ``prompt`` is any ``LoadedPrompt`` (an uncommitted candidate too:
``LoadedPrompt(name, spec, commit="")``); ``cases`` are resolved cases (``Suite.test_cases()``,
``Suite.train_cases()`` or ``Suite.resolved(...)``: suite defaults already applied);
``progress(stage, done, total)`` is called as requests finish. ``EvalResult``: ``.metrics``
(see :mod:`ptrain.evaluation.metrics`), ``.cases`` (per case: ``.passed`` by majority,
``.pass_fraction``, ``.runs`` with output, checks, latency, tokens, error), ``.outcomes()``,
``.cached``, ``.to_dict()``.

Repository-level services (``evaluate_version``, ``cases_from_feedback``, ``add_cases``) are
in :mod:`ptrain.evaluation.service`. Nothing heavy is imported by this package.
"""

from __future__ import annotations

from ptrain.evaluation.compare import Comparison, compare
from ptrain.evaluation.models import models_for as _models_for
from ptrain.evaluation.report import render_markdown
from ptrain.evaluation.results import CaseResult, EvalResult, RunOutcome
from ptrain.evaluation.runner import evaluate
from ptrain.evaluation.store import ResultStore
from ptrain.evaluation.suite import Assertion, Case, Suite, load_suite


def models_for(repo):
    """(task LLM, judge LLM) as configured in ``repo``, sharing its response cache."""
    return _models_for(repo)


__all__ = [
    "Assertion",
    "Case",
    "CaseResult",
    "Comparison",
    "EvalResult",
    "ResultStore",
    "RunOutcome",
    "Suite",
    "compare",
    "evaluate",
    "load_suite",
    "models_for",
    "render_markdown",
]
