"""The interface every training approach implements, and the data it is given.

An approach (a proposal operator of the search) receives a :class:`TrainContext` — the prompt to
edit (the current version or a pool candidate), the feedback and eval cases it may *build* from,
the parent's failing selection cases (never a confirmation case), the optimizer model and the
embedder — and returns :class:`Candidate` prompts. Each candidate carries the full YAML text of
the new prompt file, a rationale, and the ids of the feedback records and eval cases that drove
it, so the review report can show why every change was made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ptrain.prompts import LoadedPrompt
from ptrain.training.edits import checked

POSITIVE = 0.8  # a rating at or above this is a good interaction
NEGATIVE = 0.4  # at or below this, a bad one


@dataclass
class Candidate:
    approach: str
    label: str
    text: str
    rationale: str
    feedback_ids: list[str] = field(default_factory=list)
    case_ids: list[str] = field(default_factory=list)
    new_cases: list[dict] = field(default_factory=list)  # eval cases to commit (adversarial)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:12]


@dataclass
class Interaction:
    """An input → output pair with a verdict, from feedback or an eval case."""

    id: str
    inputs: dict[str, str]
    output: str | None
    good: bool | None  # True positive, False negative, None unknown
    rating: float | None = None
    note: str | None = None  # error message / complaint text (data, never instructions)
    source: str = "feedback"

    def input_text(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.inputs.items())


@dataclass
class Failure:
    """A selection case the parent candidate got wrong, with what it should have answered."""

    case_id: str
    inputs: dict[str, str]
    expected: str | None
    got: str

    def input_text(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.inputs.items())


@dataclass
class TrainContext:
    repo: Any
    name: str
    prompt: LoadedPrompt
    text: str  # the current prompt file (YAML), as committed
    interactions: list[Interaction]  # build data only
    suggestions: list[tuple[str, str]]  # (feedback id, suggestion text)
    optimizer: Any  # ptrain.llm.client.LLM
    task: Any
    embedder_factory: Callable[[], Any]
    labels: list[str] = field(default_factory=list)  # allowed outputs, when the suite names them
    metrics: dict = field(default_factory=dict)  # current version's metrics (for meta_prompt)
    history: list[tuple[str, float]] = field(default_factory=list)  # (instruction, score)
    seed: int = 0
    notes: list[str] = field(default_factory=list)
    # the search's current parent: its failing selection cases (the reflective operator's input)
    failures: list[Failure] = field(default_factory=list)
    parent_label: str = "current version"

    def for_parent(self, text: str, label: str, failures: list[Failure]) -> TrainContext:
        """The same data, with ``text`` (a pool candidate) as the prompt operators edit."""
        from dataclasses import replace

        prompt = LoadedPrompt(self.name, checked(text), self.prompt.commit, self.prompt.version)
        return replace(
            self, prompt=prompt, text=text, failures=failures, parent_label=label, notes=[]
        )

    def positives(self) -> list[Interaction]:
        return [i for i in self.interactions if i.good and i.output]

    def negatives(self) -> list[Interaction]:
        return [i for i in self.interactions if i.good is False]


class Approach(Protocol):
    name: str

    def propose(self, ctx: TrainContext, n: int) -> list[Candidate]: ...


def interactions_from_feedback(
    records: list[dict],
) -> tuple[list[Interaction], list[tuple[str, str]]]:
    """Feedback records -> interactions (rated or failed calls with inputs) and suggestions."""
    out: list[Interaction] = []
    suggestions: list[tuple[str, str]] = []
    for r in records:
        kind = r.get("kind")
        if kind == "suggestion" and r.get("suggestion"):
            suggestions.append((r["id"], r["suggestion"]))
            continue
        inputs = r.get("inputs")
        if not isinstance(inputs, dict) or not inputs:
            continue
        inputs = {k: str(v) for k, v in inputs.items()}
        rating = r.get("rating")
        good: bool | None
        if kind == "error":
            good = False
        elif rating is not None:
            good = True if rating >= POSITIVE else (False if rating <= NEGATIVE else None)
        else:
            good = None
        note = r.get("error_message") or r.get("message")
        out.append(Interaction(r["id"], inputs, r.get("output"), good, rating, note))
    return out, suggestions


def quote(text: str, limit: int = 600) -> str:
    """Feedback text as delimited data for an LLM: truncated, tags neutralised."""
    t = (text or "")[:limit].replace("<", "‹").replace(">", "›")
    return f"<data>{t}</data>"
