"""Data preparation for a training run: what may be built from, selected on and confirmed on.

* **Build data**: the prompt's feedback (rated and failed calls, suggestions) and the suite's
  ``split: train`` cases. Operators propose candidates from these.
* **Selection cases**: the build cases plus one part of the held-out cases. The search ranks
  candidates on these (a candidate is never scored on a case it carries as an example).
* **Confirmation cases**: the other part of the held-out cases. No operator and no selection step
  sees them; the reported gain and the significance test come from them alone.

The split of the held-out cases is deterministic (a hash of the seed and the case id), stratified
by expected output so both parts follow the label mix. Feedback whose inputs equal a held-out
case is dropped from the build data. Where the suite declares labels (``one_of``), a rated-up
answer becomes an example only through its canonical label ("The intent is get_weather." →
``get_weather``), never as the model's verbose sentence.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from ptrain.errors import PtrainError
from ptrain.evaluation import load_suite
from ptrain.feedback import iter_feedback
from ptrain.prompts import LoadedPrompt
from ptrain.training.base import Interaction, interactions_from_feedback
from ptrain.training.edits import checked

CONFIRM_FRACTION = 0.5  # of the held-out cases, kept apart for confirmation
MIN_CONFIRM = 20  # below this the confirmation test can hardly show a real gain


@dataclass
class TrainData:
    name: str
    prompt: LoadedPrompt
    text: str
    base_version: Any  # ptrain.repo.Version
    suite: Any  # ptrain.evaluation.suite.Suite
    held_out: list[Any]
    selection: list[Any]  # build cases + the selection part of the held-out cases
    confirmation: list[Any]
    build_cases: list[Any]
    interactions: list[Interaction]
    suggestions: list[tuple[str, str]]
    records: list[dict]
    labels: list[str]
    feedback_text: list[tuple[str, str]] = field(default_factory=list)  # (id, message/suggestion)
    notes: list[str] = field(default_factory=list)

    @property
    def sizes(self) -> dict[str, int]:
        return {
            "selection": len(self.selection),
            "selection_held_out": len(self.selection) - len(self.build_cases),
            "build": len(self.build_cases),
            "confirmation": len(self.confirmation),
        }


def case_key(vars_: dict) -> str:
    return "\n".join(f"{k}: {v}" for k, v in sorted(vars_.items())).strip().lower()


def suite_labels(cases) -> list[str]:
    labels: list[str] = []
    for c in cases:
        for a in c.assert_:
            for lab in a.one_of or []:
                if lab not in labels:
                    labels.append(lab)
    return labels


def _norm(s: str) -> str:
    return re.sub(r"[\s_\-]+", " ", s.lower()).strip()


def canonical_label(output: str | None, labels: list[str]) -> str | None:
    """The one declared label an answer names, or None (no label, or several)."""
    if not output or not labels:
        return None
    words = re.sub(r"[^0-9A-Za-z_\- ]+", " ", output)
    text = f" {_norm(words)} "
    exact = [lab for lab in labels if _norm(output) == _norm(lab)]
    if exact:
        return exact[0]
    found = [lab for lab in labels if f" {_norm(lab)} " in text]
    # "not supportive" names a label it denies: ambiguous, skip it
    if len(found) == 1 and f" not {_norm(found[0])} " not in text:
        return found[0]
    return None


def split_held_out(cases: list, seed: int, fraction: float) -> tuple[list, list]:
    """(selection part, confirmation part), stratified by expected output, deterministic."""
    groups: dict[str, list] = {}
    for c in cases:
        groups.setdefault(str(c.expected).strip().lower(), []).append(c)
    sel: list = []
    conf: list = []
    for _, group in sorted(groups.items()):
        group = sorted(group, key=lambda c: hashlib.sha256(f"{seed}:{c.id}".encode()).hexdigest())
        k = round(len(group) * fraction)
        conf_ids = {c.id for c in group[:k]}
        for c in group:
            (conf if c.id in conf_ids else sel).append(c)
    order = {c.id: i for i, c in enumerate(cases)}
    return sorted(sel, key=lambda c: order[c.id]), sorted(conf, key=lambda c: order[c.id])


def _interactions(records, held_keys, build_cases, labels, notes):
    interactions, suggestions = interactions_from_feedback(records)
    leaked = [i for i in interactions if case_key(i.inputs) in held_keys]
    interactions = [i for i in interactions if case_key(i.inputs) not in held_keys]
    if leaked:
        notes.append(
            f"{len(leaked)} feedback interactions equal held-out cases and were not used to build candidates"
        )
    if labels:
        dropped = 0
        for i in interactions:
            if i.good and i.output:
                lab = canonical_label(i.output, labels)
                if lab is None:
                    i.good = None  # a rated-up answer naming no label cannot teach a label
                    dropped += 1
                else:
                    i.output = lab
        if dropped:
            notes.append(
                f"{dropped} rated-up answers name no single declared label and are not used as examples"
            )
    for c in build_cases:
        if c.expected is not None:
            inputs = {k: str(v) for k, v in c.vars.items()}
            interactions.append(Interaction(c.id, inputs, c.expected, True, None, None, "eval"))
    return interactions, suggestions


def prepare(
    repo, name: str, *, seed: int = 0, confirm_fraction: float = CONFIRM_FRACTION
) -> TrainData:
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
    build_cases = suite.train_cases()
    notes: list[str] = []
    labels = suite_labels(held_out + build_cases)
    records = list(iter_feedback(repo.root, name))
    held_keys = {case_key(c.vars) for c in held_out}
    interactions, suggestions = _interactions(records, held_keys, build_cases, labels, notes)
    if len(held_out) < 4:
        sel_held: list = []
        conf = list(held_out)
    else:
        sel_held, conf = split_held_out(held_out, seed, confirm_fraction)
    selection = list(build_cases) + sel_held
    if not selection:
        selection = list(conf)
        notes.append(
            f"too few cases to keep selection and confirmation apart ({len(held_out)} held-out, "
            "no train cases): candidates are confirmed on the cases they were selected on; "
            f"add at least {max(0, 8 - len(held_out))} held-out and 8 `split: train` cases"
        )
    if len(conf) < MIN_CONFIRM:
        need = round(MIN_CONFIRM / confirm_fraction) - len(held_out)
        notes.append(
            f"only {len(conf)} confirmation cases: the significance test can only confirm a large "
            f"gain; add about {max(need, 1)} held-out cases to evals/ for {MIN_CONFIRM}"
        )
    feedback_text = [
        (r["id"], str(r.get("suggestion") or r.get("message") or r.get("comment") or ""))
        for r in records
        if r.get("suggestion") or r.get("message") or r.get("comment")
    ]
    return TrainData(
        name=name,
        prompt=prompt,
        text=text,
        base_version=base_v,
        suite=suite,
        held_out=held_out,
        selection=selection,
        confirmation=conf,
        build_cases=build_cases,
        interactions=interactions,
        suggestions=suggestions,
        records=records,
        labels=labels,
        feedback_text=feedback_text,
        notes=notes,
    )
