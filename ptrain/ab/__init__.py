"""A/B tests of prompt versions: a sticky split of live traffic and a pre-registered verdict.

* :mod:`ptrain.ab.model` — the experiment tag format and the sticky assignment; depends on
  nothing above storage, so ``PromptRepo.get(name, unit_id=...)`` uses it without a cycle.
* :mod:`ptrain.ab.stats` — outcomes, sample size, z-tests, Wilson intervals, P(best), verdict.
* :mod:`ptrain.ab.service` — start, stop, status, report (takes a ``PromptRepo``).
* :mod:`ptrain.ab.markdown` — the markdown report (``ptrain ab report --report F``).

The names below are re-exported lazily (PEP 562), so importing :mod:`ptrain.ab.model` on the
runtime path does not import the service, the statistics or the feedback store.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ptrain.ab.markdown import render_markdown
    from ptrain.ab.model import (
        AB_TAG_PREFIX,
        Experiment,
        Variant,
        ab_ref,
        assign,
        bucket,
        parse_experiment,
        parse_split,
        runtime_variant,
    )
    from ptrain.ab.service import (
        Report,
        Status,
        StopResult,
        collect,
        current,
        report,
        start,
        status,
        stop,
    )
    from ptrain.ab.stats import (
        METRICS,
        POWER,
        ArmStats,
        Verdict,
        decide,
        mean_interval,
        outcome,
        prob_best,
        required_sample_size,
        two_proportion_z,
        wilson,
    )

__all__ = [
    # ptrain.ab.model
    "AB_TAG_PREFIX",
    "Experiment",
    "Variant",
    "ab_ref",
    "assign",
    "bucket",
    "parse_experiment",
    "parse_split",
    "runtime_variant",
    # ptrain.ab.markdown
    "render_markdown",
    # ptrain.ab.service
    "Report",
    "Status",
    "StopResult",
    "collect",
    "current",
    "report",
    "start",
    "status",
    "stop",
    # ptrain.ab.stats
    "METRICS",
    "POWER",
    "ArmStats",
    "Verdict",
    "decide",
    "mean_interval",
    "outcome",
    "prob_best",
    "required_sample_size",
    "two_proportion_z",
    "wilson",
]
_MODULES = ("ptrain.ab.model", "ptrain.ab.stats", "ptrain.ab.service", "ptrain.ab.markdown")


def __getattr__(name: str) -> Any:
    if name in __all__:
        for mod in _MODULES:
            module = import_module(mod)
            if hasattr(module, name):
                globals()[name] = value = getattr(module, name)  # later lookups skip this
                return value
    raise AttributeError(f"module 'ptrain.ab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
