"""The search every operator feeds: several rounds over a Pareto pool, racing on minibatches.

Round 1 asks every operator (in the order given: with ``auto`` the trigger's choice first) for
candidates from the current version. Later rounds pick a parent from the pool — the candidates
that are each best on some selection case (GEPA's Pareto pool), weighted by how many cases they
win — and ask the parent-aware operators (reflective, meta_prompt) to improve it from its own
failing cases; they also cross the best instruction variants with the best example sets
(MIPROv2's joint search over instructions × demos).

Each round's new candidates race: all run on a minibatch of the selection cases; the best third,
if they beat or tie the parent on that minibatch (a tie at zero does not count), run on the rest. Only fully scored candidates join the pool. Scores never use
a case the candidate carries as an example. Before every evaluation the search checks that the
budget still holds the calls reserved for confirmation; when it does not, the search stops and
what it has is confirmed (anytime). A budget too small to score the current version and one
candidate on every selection case scores them on a random part of the selection cases instead
(held-out ones first), and says so. All calls go through the response cache, so a re-run with
the same data and seed costs no model calls.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ptrain.ab.stats import wilson
from ptrain.errors import BudgetExceeded, ValidationError
from ptrain.evaluation import evaluate
from ptrain.prompts import LoadedPrompt
from ptrain.training import approaches as registry
from ptrain.training.base import Candidate, Failure, TrainContext
from ptrain.training.data import case_key
from ptrain.training.edits import checked, instruction_of, with_instruction

PARENT_AWARE = ("reflective", "meta_prompt")  # operators worth calling again on a new parent
MIN_RACE = 3  # fewer new candidates than this are scored in full directly
CROSS_INSTR = 3  # instruction variants crossed with the 2 best example sets per round
KEEP = 3  # racing: the best third of a round's candidates go on to the full selection set
MIN_FIT = 6  # a budget that affords fewer selection cases than this does not search at all


def _mean(xs: list[bool]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


@dataclass
class Entry:
    """A prompt the search scored: the current version or a candidate."""

    digest: str
    text: str
    candidate: Candidate | None
    round: int
    parent: str | None = None
    scores: dict[str, bool] = field(default_factory=dict)  # selection case id -> passed
    outputs: dict[str, str] = field(default_factory=dict)
    minibatch: float | None = None
    full: bool = False
    status: str = ""

    @property
    def label(self) -> str:
        return self.candidate.label if self.candidate else "current version"

    @property
    def operator(self) -> str:
        return self.candidate.approach if self.candidate else "—"

    @property
    def score(self) -> float | None:
        return sum(self.scores.values()) / len(self.scores) if self.scores else None


@dataclass
class RoundLog:
    number: int
    parent: str
    tried: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class SearchLog:
    base: Entry
    entries: list[Entry] = field(default_factory=list)  # every candidate proposed, scored or not
    rounds: list[RoundLog] = field(default_factory=list)
    pool: list[Entry] = field(default_factory=list)
    budget_stopped: bool = False
    notes: list[str] = field(default_factory=list)

    def ranked(self) -> list[Entry]:
        """Fully scored candidates, best first by how many of the others each beats on the
        cases both were scored on (then the lower bound of its selection score, then the
        score, then the shorter prompt).

        A candidate is never scored on a case it carries as an example, so a per-call pool is
        scored on the held-out selection cases only while a fixed set of 8 is scored on most
        build cases too: their means rest on different cases and do not compare. Head to head
        on the common cases they do (the Qwen intent run: a pool's 19 of 21 lost, by Wilson
        bound alone, to a fixed set's 39 of 46, 25 of them build cases; that pick tested 0.85,
        the pool 1.00 the run before). The Wilson 95% lower bound breaks ties: 16 of 20 (0.80)
        is weaker evidence than 38 of 48 (0.79), 0.58 vs 0.66."""
        full = [e for e in self.entries if e.full and e.score is not None]
        wins = {e.digest: sum(_beats(e, o) for o in full if o is not e) for e in full}
        return sorted(
            full,
            key=lambda e: (-wins[e.digest], -lower_bound(e), -(e.score or 0.0), len(e.text)),
        )

    def ranked_partial(self) -> list[Entry]:
        """When the budget stopped the search before any candidate was fully scored: the ones
        scored on the minibatch, best first (confirmation still uses unseen cases only)."""
        part = [e for e in self.entries if e.minibatch is not None]
        return sorted(part, key=lambda e: (-(e.minibatch or 0.0), len(e.text)))


def _beats(a: Entry, b: Entry) -> float:
    """1 if ``a`` passed more of the cases both were scored on than ``b``, 0.5 on a tie (or
    no common case), else 0."""
    common = a.scores.keys() & b.scores.keys()
    sa = sum(a.scores[c] for c in common)
    sb = sum(b.scores[c] for c in common)
    return 1.0 if sa > sb else 0.5 if sa == sb else 0.0


def lower_bound(e: Entry) -> float:
    """The Wilson 95% lower bound of ``e``'s selection score (0 when unscored)."""
    interval = wilson(sum(e.scores.values()), len(e.scores))
    return interval[0] if interval else 0.0


class OutOfBudget(Exception):
    """The search must stop: the calls left are reserved for confirmation."""


def digest_of(text: str) -> str:
    import hashlib
    import json

    try:
        blob = json.dumps(checked(text).model_dump(mode="json"), sort_keys=True)
    except ValidationError:
        blob = text
    return hashlib.sha256(blob.encode()).hexdigest()


def pareto_front(entries: list[Entry]) -> list[Entry]:
    """Entries best on at least one case, without the ones another entry dominates."""
    full = [e for e in entries if e.full]
    cases = {c for e in full for c in e.scores}
    best_on: dict[str, int] = {}
    for c in cases:
        if not any(e.scores.get(c) for e in full):
            continue
        for e in full:
            if e.scores.get(c):
                best_on[e.digest] = best_on.get(e.digest, 0) + 1
    front = [e for e in full if best_on.get(e.digest)]

    def wins(e: Entry) -> set[str]:
        return {c for c, ok in e.scores.items() if ok}

    kept = []
    for e in front:
        dominated = any(
            wins(e) < wins(o) or (wins(e) == wins(o) and (o.score or 0) > (e.score or 0))
            for o in front
            if o is not e
        )
        if not dominated:
            kept.append(e)
    return kept or sorted(full, key=lambda e: -(e.score or 0.0))[:1]


class Search:
    def __init__(
        self,
        ctx: TrainContext,
        operators: list[str],
        selection: list[Any],
        *,
        task: Any,
        store: Any,
        budget: Any,
        reserve: int,
        candidates: int,
        rounds: int = 3,
        seed: int = 0,
        progress: Callable[[str, int, int], None] | None = None,
        held_out: int = 0,
    ) -> None:
        self.ctx, self.operators, self.selection = ctx, operators, selection
        self.held_out = held_out  # the last ``held_out`` selection cases are held-out ones
        self.task, self.store, self.budget, self.reserve = task, store, budget, reserve
        self.n, self.rounds, self.seed = candidates, rounds, seed
        self.tick = progress or (lambda *_: None)
        self.seen: set[str] = set()
        self.expanded: set[str] = set()

    # -- scoring --------------------------------------------------------------------------
    def _evaluate(self, entry: Entry, cases: list[Any]) -> None:
        own = {case_key(ex.inputs) for ex in checked(entry.text).examples}
        cases = [c for c in cases if c.id not in entry.scores and case_key(c.vars) not in own]
        if not cases:
            return
        left = self.budget.remaining().get("calls")
        if left is not None and left - self.reserve < len(cases):
            raise OutOfBudget(f"{left} calls left, {self.reserve} reserved for confirmation")

        p = LoadedPrompt(self.ctx.name, checked(entry.text), "", None)
        r = evaluate(
            p, cases, llm=self.task, judge=None, runs=1, metrics=[], store=self.store, concurrency=2
        )
        if any("budget" in (x.error or "").lower() for c in r.cases for x in c.runs):
            raise OutOfBudget("the budget ran out during an evaluation")
        for c in r.cases:
            entry.scores[c.id] = c.passed
            entry.outputs[c.id] = c.output

    def _affords(self, calls: int) -> bool:
        left = self.budget.remaining().get("calls")
        return left is None or left - self.reserve >= calls

    def failures(self, entry: Entry) -> list[Failure]:
        by_id = {c.id: c for c in self.selection}
        out = []
        for cid, ok in entry.scores.items():
            c = by_id.get(cid)
            if not ok and c is not None:
                inputs = {k: str(v) for k, v in c.vars.items()}
                out.append(Failure(cid, inputs, c.expected, entry.outputs.get(cid, "")))
        return out

    # -- proposing ------------------------------------------------------------------------
    def _propose(self, parent: Entry, ops: list[str], log: RoundLog, rnd: int) -> list[Entry]:
        ctx = self.ctx.for_parent(parent.text, parent.label, self.failures(parent))
        ctx.history = [
            (instruction_of(checked(e.text)), e.score or 0.0)
            for e in [self.base, *self.log.entries]
            if e.full
        ]
        new: list[Entry] = []
        for op in ops:
            self.tick(f"round {rnd}: {op} proposing", 0, 1)
            try:
                proposed = registry.get(op).propose(ctx, self.n)
            except BudgetExceeded:
                raise OutOfBudget("the budget ran out while an operator was proposing") from None
            finally:
                log.notes.extend(ctx.notes)
                ctx.notes = []
            for c in proposed:
                e = self._entry(c, rnd, parent, log)
                if e is not None:
                    new.append(e)
        return new

    def _entry(self, cand: Candidate, rnd: int, parent: Entry, log: RoundLog) -> Entry | None:
        e = Entry(digest_of(cand.text), cand.text, cand, rnd, parent.digest)
        self.log.entries.append(e)
        log.tried.append(e)
        try:
            checked(cand.text)
        except ValidationError as exc:
            e.status = f"invalid prompt: {exc.message}"
            return None
        if e.digest in self.seen:
            e.status = "duplicate of the current version or another candidate"
            return None
        self.seen.add(e.digest)
        return e

    def _crossovers(self, rnd: int, log: RoundLog) -> list[Entry]:
        """The best instruction variants × the best example sets of the pool so far."""
        base_spec = checked(self.base.text)
        base_instr = instruction_of(base_spec)
        full = self.log.ranked()
        # instruction variants: any scored candidate, even one stopped at the minibatch (an
        # instruction without examples may fail alone and win with them: MIPROv2's point)
        tried = [e for e in self.log.entries if e.scores and e.candidate is not None]
        tried.sort(key=lambda e: (not e.full, -((e.score if e.full else e.minibatch) or 0.0)))
        instr = [e for e in tried if instruction_of(checked(e.text)) != base_instr][:CROSS_INSTR]
        shots = [
            e for e in full if checked(e.text).examples != base_spec.examples and e not in instr
        ][:2]
        out = []
        for i in instr:
            for s in shots:
                text = with_instruction(s.text, instruction_of(checked(i.text)))
                ci, cs = i.candidate, s.candidate
                if ci is None or cs is None:
                    continue
                cand = Candidate(
                    "merge",
                    f"{ci.label} × {cs.label}",
                    text,
                    f"The instruction of *{ci.label}* with the examples of *{cs.label}*: "
                    f"{ci.rationale} {cs.rationale}",
                    list(dict.fromkeys(ci.feedback_ids + cs.feedback_ids)),
                    list(dict.fromkeys(ci.case_ids + cs.case_ids)),
                    ci.new_cases + cs.new_cases,
                )
                e = self._entry(cand, rnd, i, log)
                if e is not None:
                    out.append(e)
        return out

    # -- racing ---------------------------------------------------------------------------
    def _race(self, new: list[Entry], parent: Entry, rnd: int) -> None:
        if not new:
            return
        if len(new) >= MIN_RACE and len(self.selection) >= 12:
            rng = random.Random(self.seed * 7919 + rnd)
            mini = self._minibatch(new, rng)
            for i, e in enumerate(new):
                # anytime: leave room to score at least one candidate on every selection case
                if not self._affords(len(self.selection)):
                    e.status = "not scored: budget reached"
                    continue
                self.tick(f"round {rnd}: minibatch", i, len(new))
                self._evaluate(e, mini)
                e.minibatch = e.score
            new = [e for e in new if e.minibatch is not None]
            if not new:  # the budget stopped the minibatch before any candidate ran
                return
            bar = _mean([parent.scores[c.id] for c in mini if c.id in parent.scores])
            new.sort(key=lambda e: -(e.minibatch or 0.0))
            keep = max(1, math.ceil(len(new) / KEEP))
            # a tie goes on too, unless both are at zero: a parent perfect on a lucky minibatch
            # must not stop every candidate before the full selection set can tell them apart
            survivors = [
                e for e in new[:keep] if (e.minibatch or 0.0) > bar or (e.minibatch == bar > 0)
            ]
            cut = new[keep - 1].minibatch or 0.0
            for e in new:
                if e in survivors:
                    continue
                score, n = e.minibatch or 0.0, len(e.scores)
                e.status = (
                    f"stopped at the minibatch ({n} cases): {score:.2f}, not in the best "
                    f"third of the round (its lowest {cut:.2f}; {parent.label} {bar:.2f})"
                    if score > bar or score == bar > 0
                    else f"stopped at the minibatch ({n} cases): {score:.2f}, not above "
                    f"{parent.label} {bar:.2f}"
                )
            new = survivors
        for i, e in enumerate(new):
            self.tick(f"round {rnd}: selection", i, len(new))
            self._evaluate(e, self.selection)
            e.full = True
            e.status = "scored on every selection case"

    def _minibatch(self, new: list[Entry], rng: random.Random) -> list[Any]:
        """One minibatch for the whole round, of cases no new candidate carries as an example:
        otherwise a candidate holding most of the cases (a pool for per-call selection) would
        be raced on the two or three left, and the candidates on different cases."""
        size = max(6, len(self.selection) // 6)
        carried = {case_key(ex.inputs) for e in new for ex in checked(e.text).examples}
        free = [c for c in self.selection if case_key(c.vars) not in carried]
        return rng.sample(free if len(free) >= size else self.selection, size)

    def _pick_parent(self, rnd: int) -> Entry:
        front = pareto_front([self.base, *self.log.entries])
        weights = []
        for e in front:
            w = sum(1 for c, ok in e.scores.items() if ok) + 1
            weights.append(w * (0.3 if e.digest in self.expanded else 1.0))
        rng = random.Random(self.seed * 104729 + rnd)
        return rng.choices(front, weights=weights, k=1)[0]

    def _fit_selection(self) -> None:
        """A budget too small to score the current version and one candidate on every selection
        case (after confirmation's reserve) would end the search before it starts. Score on as
        many selection cases as leave room for the current version and three candidates
        instead, held-out ones first (no candidate carries those as examples, so every
        candidate is scored on the same cases); confirmation still uses unseen cases only."""
        left = self.budget.remaining().get("calls")
        n = len(self.selection)
        if left is None or left - self.reserve >= 2 * n:
            return
        size = (left - self.reserve) // 4
        if size < MIN_FIT or size >= n:
            return
        rng = random.Random(self.seed * 31337 + n)
        held, rest = self.selection[n - self.held_out :], self.selection[: n - self.held_out]
        pick = rng.sample(held, min(size, len(held)))
        pick += rng.sample(rest, size - len(pick))
        self.selection = sorted(pick, key=self.selection.index)
        self.held_out = min(size, len(held))
        self.log.notes.append(
            f"the budget leaves {left - self.reserve} calls for the search after confirmation's "
            f"reserve, fewer than scoring the current version and one candidate on all {n} "
            f"selection cases takes: scored on {size} of them ({self.held_out} held-out); raise "
            "the budget for the full search"
        )

    # -- the loop -------------------------------------------------------------------------
    def run(self, base_text: str) -> SearchLog:
        self.base = Entry(digest_of(base_text), base_text, None, 0, full=True)
        self.log = SearchLog(self.base)
        self.seen.add(self.base.digest)
        self._fit_selection()
        try:
            self.tick("current version: selection", 0, 1)
            self._evaluate(self.base, self.selection)
            for rnd in range(1, self.rounds + 1):
                parent = self.base if rnd == 1 else self._pick_parent(rnd)
                self.expanded.add(parent.digest)
                log = RoundLog(rnd, parent.label)
                self.log.rounds.append(log)
                ops = (
                    self.operators if rnd == 1 else [o for o in self.operators if o in PARENT_AWARE]
                )
                new = self._propose(parent, ops, log, rnd) if ops else []
                if rnd > 1:
                    new += self._crossovers(rnd, log)
                if not new:
                    log.notes.append("no new candidate: the search stops")
                    break
                self._race(new, parent, rnd)
        except OutOfBudget as exc:
            self.log.budget_stopped = True
            self.log.notes.append(f"budget reached during the search ({exc}); best so far kept")
        for e in self.log.entries:
            if not e.status:
                e.status = "not scored: budget reached"
        self.log.pool = pareto_front([self.base, *self.log.entries])
        return self.log
