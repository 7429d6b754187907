"""Judge-free quality scores on the embedded models: coherence, relevance, ``similar``.

* **coherence** of an output = ``1 - NLL / ln(V)``, clipped to [0, 1]: ``NLL`` is the mean
  negative log-likelihood per token of the output under the local model
  (``evaluation.coherence_model``, default SmolLM2-135M) as the assistant's reply to the case's
  input (the input alone, not the candidate's system prompt, so every version is scored on the
  same footing and a prompt cannot buy coherence by rewording its own instructions), and ``V``
  the model's vocabulary size. ``ln(V)`` is what a uniform guess costs a token, so 0 means "as
  surprising as random tokens", 1 "perfectly predicted"; ``1 - ln(perplexity) / ln(V)``.
* **relevance** = cosine similarity (embedder, default all-MiniLM-L6-v2) between the output and
  the case's expected answer when it has one, else its input; negative similarities count 0.
* ``similar: {to: <text or "expected">, min: 0.8}``: the same cosine against a fixed text.

``Scorers`` bundles the embedder and the log-likelihood scorer; ``Scorers.local()`` builds the
embedded ones lazily (nothing loads until a score is asked for). See docs/metrics.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ptrain.errors import ModelError
from ptrain.evaluation import assertions as A
from ptrain.llm.logprob import scorer
from ptrain.llm.weights import spec

if TYPE_CHECKING:
    from ptrain.config import EmbedderSettings
    from ptrain.llm.embed import Embedder
    from ptrain.llm.logprob import LogprobScorer, TokenScore

QUALITY_METRICS = ("coherence", "relevance")


def input_text(inputs: dict[str, Any]) -> str:
    """A case's input as one text: the value of a single variable, else ``name: value`` lines."""
    if len(inputs) == 1:
        return str(next(iter(inputs.values())))
    return "\n".join(
        f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
        for k, v in inputs.items()
    )


def coherence_from(score: TokenScore, vocab_size: int) -> float:
    """``1 - mean NLL / ln(vocab_size)`` clipped to [0, 1] (see the module docstring)."""
    nll = -score.mean_logprob
    return max(0.0, min(1.0, 1.0 - nll / math.log(max(vocab_size, 2))))


@dataclass
class Scorers:
    """The models behind the judge-free metrics. ``None`` factories: that metric is off."""

    embedder_factory: Callable[[], Embedder] | None = None
    loglik_factory: Callable[[], LogprobScorer] | None = None
    identity: dict[str, Any] = field(default_factory=dict)
    _embedder: Embedder | None = field(default=None, init=False, repr=False)
    _loglik: LogprobScorer | None = field(default=None, init=False, repr=False)

    @classmethod
    def local(
        cls, embedder: EmbedderSettings | None = None, coherence_model: str = "smollm2-135m"
    ) -> Scorers:
        """The embedded embedder and the embedded model's log-likelihood."""

        def make_embedder() -> Embedder:
            from ptrain.llm.embed import embedder as get  # lazy: llm.embed imports numpy

            return get(embedder)

        def make_loglik() -> LogprobScorer:
            return scorer(coherence_model)

        emb = embedder.model_dump() if embedder is not None else {"model": "all-minilm-l6-v2"}
        ident = {
            "embedder": emb,
            "coherence": f"{coherence_model}:{spec(coherence_model).files[0].sha256[:16]}",
        }
        return cls(make_embedder, make_loglik, ident)

    @classmethod
    def none(cls) -> Scorers:
        return cls(None, None, {"off": True})

    @property
    def embedder(self) -> Embedder | None:
        if self._embedder is None and self.embedder_factory is not None:
            self._embedder = self.embedder_factory()
        return self._embedder

    @property
    def loglik(self) -> LogprobScorer | None:
        if self._loglik is None and self.loglik_factory is not None:
            self._loglik = self.loglik_factory()
        return self._loglik


def similarities(embedder: Embedder, pairs: Sequence[tuple[str, str]]) -> list[float]:
    """Cosine similarity of each (a, b) pair, negatives as 0, one embedding batch for all."""
    if not pairs:
        return []
    texts = list(dict.fromkeys(t for pair in pairs for t in pair))
    vecs = embedder.embed(texts)
    row = {t: i for i, t in enumerate(texts)}
    return [
        max(0.0, min(1.0, float(vecs[row[a]] @ vecs[row[b]]))) if a.strip() and b.strip() else 0.0
        for a, b in pairs
    ]


def coherences(
    scorer: LogprobScorer, items: Sequence[tuple[dict[str, Any], str]], concurrency: int = 2
) -> list[float | None]:
    """Coherence of each (inputs, output); ``None`` where the output is empty or scoring
    failed (the error is re-raised only when every item failed)."""
    vocab = scorer.vocab_size
    errors: list[ModelError] = []

    def one(item: tuple[dict[str, Any], str]) -> float | None:
        inputs, output = item
        try:
            s = scorer.score([("user", input_text(inputs))], output)
        except ModelError as e:
            errors.append(e)
            return None
        return None if s is None else round(coherence_from(s, vocab), 4)

    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        out = list(pool.map(one, items))
    if errors and len(errors) == len(items):
        raise errors[0]
    return out


def score_outputs(
    scorers: Scorers,
    cases: Sequence[Any],
    outcomes: Sequence[Sequence[Any]],
    metrics: Sequence[str],
    concurrency: int = 2,
) -> list[str]:
    """Fill ``scores`` (coherence, relevance) and the ``similar`` checks of every outcome.

    Each distinct (case, output) is scored once. Returns notes on what could not be scored.
    """
    notes: list[str] = []
    todo = [
        (case, o)
        for case, per_case in zip(cases, outcomes, strict=True)
        for o in per_case
        if o.error is None
    ]
    sims = [a for case, _ in todo for a in case.assertions() if a.kind == "similar"]
    want_rel = "relevance" in metrics and bool(todo)
    if (want_rel or sims) and scorers.embedder_factory is not None:
        pairs: list[tuple[str, str]] = []
        for case, o in todo:
            if want_rel:
                ref = case.expected if case.expected is not None else input_text(case.vars)
                pairs.append((ref, o.output))
            for a in case.assertions():
                if a.kind == "similar":
                    pairs.append((A.similar_target(a, case.expected), o.output))
        emb = scorers.embedder
        assert emb is not None
        try:
            sim = iter(similarities(emb, pairs))
        except ModelError as e:
            sim = None
            notes.append(f"relevance and `similar` unavailable: {e.message}")
        for case, o in todo:
            if want_rel:
                value = next(sim) if sim is not None else None
                if value is not None:
                    o.scores["relevance"] = round(value, 4)
            for a in case.assertions():
                if a.kind == "similar":
                    o.checks.append(A.similar_check(a, next(sim) if sim is not None else None))
    elif sims:
        for case, o in todo:
            o.checks += [A.similar_check(a, None) for a in case.assertions() if a.kind == "similar"]
    if "coherence" in metrics and todo and scorers.loglik_factory is not None:
        keys = list(dict.fromkeys(_key(case.vars, o.output) for case, o in todo))
        items = {_key(case.vars, o.output): (case.vars, o.output) for case, o in todo}
        scorer = scorers.loglik
        assert scorer is not None
        try:
            values = coherences(scorer, [items[k] for k in keys], concurrency)
            got = dict(zip(keys, values, strict=True))
        except ModelError as e:
            got = {}
            notes.append(f"coherence unavailable: {e.message}")
        for case, o in todo:
            value = got.get(_key(case.vars, o.output))
            if value is not None:
                o.scores["coherence"] = value
    return notes


def _key(inputs: dict[str, Any], output: str) -> str:
    return json.dumps([inputs, output], sort_keys=True, ensure_ascii=False, default=str)
