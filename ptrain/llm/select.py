"""Examples chosen per call: the ``k`` of a prompt's pool most similar to the call's inputs.

A prompt file with ``example_selection: {by: similarity, k: 4}`` keeps a pool in ``examples``;
each call shows only the ``k`` examples whose inputs are nearest to the call's inputs (cosine
similarity of the embedded all-MiniLM-L6-v2 vectors, exact FAISS search), the most similar
last, next to the question. This is retrieval of in-context examples (Liu et al., 2022, "What
Makes Good In-Context Examples for GPT-3?"; LangChain's ``SemanticSimilarityExampleSelector``):
a small model copies the label of a near-identical example far more reliably than it follows a
fixed list of examples. Results are deterministic for a given pool and input.

The pool's index is built once per process and kept under ``$PTRAIN_CACHE_DIR/examples/``
(keyed by the embedder and the pool's text), so an unchanged prompt is embedded once per
machine. numpy, onnxruntime and FAISS load only when such a prompt is formatted with a pool
larger than ``k`` — importing this module costs nothing, so ``ptrain.prompts`` imports it. The embedder is always the local one: a prompt file carries no endpoint or
key, and the same file selects the same examples on every machine.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from ptrain.llm.embed import Embedder, VectorIndex


class _Example(Protocol):
    @property
    def inputs(self) -> Mapping[str, str]: ...


class _Selection(Protocol):
    @property
    def k(self) -> int: ...

    @property
    def embedder(self) -> str: ...


E = TypeVar("E", bound=_Example)

_indexes: dict[str, VectorIndex] = {}
_lock = threading.Lock()


def inputs_text(inputs: Mapping[str, Any], names: Sequence[str]) -> str:
    """What is embedded for an example or a call: ``name: value`` lines in declared order."""
    return "\n".join(f"{n}: {inputs.get(n, '')}" for n in names)


def _embedder(model: str) -> Embedder:
    from ptrain.config import EmbedderSettings  # lazy: pydantic, only when a pool is searched
    from ptrain.llm.embed import embedder  # lazy: numpy and onnxruntime, idem

    return embedder(EmbedderSettings(provider="local", model=model))


def _index(model: str, texts: list[str]) -> VectorIndex:
    from ptrain.llm.embed import VectorIndex, content_hash  # lazy: numpy and FAISS, idem
    from ptrain.llm.weights import cache_root  # lazy: only when a pool is searched

    emb = _embedder(model)
    key = content_hash(emb.name, texts)
    with _lock:
        if key not in _indexes:
            _indexes[key] = VectorIndex.build(texts, emb, cache_root() / "examples")
        return _indexes[key]


def nearest(
    pool: Sequence[E], selection: _Selection, names: Sequence[str], variables: Mapping[str, Any]
) -> list[E]:
    """The ``selection.k`` examples of ``pool`` nearest to ``variables``, most similar last."""
    if len(pool) <= selection.k:
        return list(pool)
    if any(n not in variables for n in names):
        return list(pool[: selection.k])  # the template fill names the missing variable
    index = _index(selection.embedder, [inputs_text(e.inputs, names) for e in pool])
    hits = index.search(inputs_text(variables, names), selection.k)
    return [pool[i] for i, _ in reversed(hits)]


class SelectingSpec(Protocol):
    """What selection needs of a prompt spec (``ptrain.prompts.PromptSpec`` is one)."""

    @property
    def examples(self) -> Sequence[Any]: ...

    @property
    def example_selection(self) -> Any: ...

    @property
    def input_variables(self) -> Sequence[str]: ...


def select_examples(spec: SelectingSpec, variables: Mapping[str, Any]) -> list[Any]:
    """The examples a call of ``spec`` with ``variables`` shows."""
    if spec.example_selection is None:
        return list(spec.examples)
    return nearest(spec.examples, spec.example_selection, spec.input_variables, variables)
