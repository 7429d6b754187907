"""few_shot (the example-selection operator): real interactions into the prompt as examples.

The pool is every high-rated interaction (rating ≥ 0.8) with its inputs and output, plus the
build-split eval cases that have an expected output. Where the suite declares labels, outputs are
already the canonical labels (data preparation maps "The intent is X." to ``X`` and drops answers
naming no label). Inputs are embedded (the configured embedder; FAISS for search) and ordered by
maximal marginal relevance against the centroid of the production traffic — relevant to what
users send, diverse among themselves. Sets of four kinds are proposed, and the search decides on
data which wins:

* **similar** (proposed first): the whole pool goes into the prompt with ``example_selection``,
  so each call shows the k examples nearest its own inputs (``ptrain.llm.select``). On the
  example's intent router this took SmolLM2-135M from 0.4 (16 fixed examples) to 0.9;
* **balanced**: round-robin over the labels, so a classifier sees every label;
* **label prior**: each label in proportion to how often it occurs in the pool (the real mix), so
  a task where one label dominates is not taught that every label is equally likely;
* **commonest label**: where one label is at least twice as common in the pool as the next, a
  set of its examples alone. On a model that cannot tell the labels apart this is "always
  answer the commonest label" written as a prompt: the majority-class rate, which a trained
  classifier should not fall below. It wins only when nothing scores higher on the selection
  cases, and its rationale says what it is.

A fixed set always ends with an example of the pool's commonest label. Small models copy the
label of the last example shown (the recency bias of Zhao et al., "Calibrate Before Use", 2021):
on social_support, SmolLM2-135M given the same 8 examples answered the last one's label on 33-40
of 40 test cases, so the order decides between 0.25 and 0.775 (the commonest label's rate).
Ending on the prior's mode makes the bias the best single guess instead of a random one.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

from ptrain.prompts import rewrite_prompt_text
from ptrain.training.base import Candidate, Interaction, TrainContext
from ptrain.training.edits import with_examples

MAX_EXAMPLES = 16
MAX_POOL = 200  # examples kept for per-call selection (the prompt file stays reviewable)
SIMILAR_KS = (4, 8)
MODE_LEAD = 2.0  # a label this many times as common as the next gets a set of its own
COMMONEST_K = 8  # the size of that set


def _dedupe(items: list[Interaction], existing: set[str]) -> list[Interaction]:
    seen, out = set(existing), []
    for it in items:
        key = it.input_text().strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(it)
    return out


def _balanced(order: list[int], outputs: list[str], k: int) -> list[int]:
    """Round-robin over output labels, each label's items in ``order`` (MMR) order."""
    groups: OrderedDict[str, list[int]] = OrderedDict()
    for i in order:
        groups.setdefault(outputs[i].strip().lower(), []).append(i)
    picked: list[int] = []
    while len(picked) < k and any(groups.values()):
        for g in list(groups.values()):
            if g and len(picked) < k:
                picked.append(g.pop(0))
    return picked


def _prior(order: list[int], outputs: list[str], k: int) -> list[int]:
    """Each label's share of ``k`` in proportion to its frequency (largest remainder)."""
    groups: OrderedDict[str, list[int]] = OrderedDict()
    for i in order:
        groups.setdefault(outputs[i].strip().lower(), []).append(i)
    total = sum(len(g) for g in groups.values())
    k = min(k, total)
    quota = {lab: k * len(g) / total for lab, g in groups.items()}
    take = {lab: int(q) for lab, q in quota.items()}
    for lab in sorted(quota, key=lambda lab: quota[lab] - take[lab], reverse=True):
        if sum(take.values()) >= k:
            break
        take[lab] += 1
    keep = {i for lab, g in groups.items() for i in g[: take[lab]]}
    return [i for i in order if i in keep]


def commonest_last(picked: list[int], outputs: list[str], mix: Counter[str]) -> list[int]:
    """``picked`` with its last example of the pool's commonest label moved to the end."""
    if not picked or not mix:
        return picked
    top = mix.most_common(1)[0][0]
    at = next(
        (j for j in range(len(picked) - 1, -1, -1) if outputs[picked[j]].strip().lower() == top),
        None,
    )
    if at is None:
        return picked
    return picked[:at] + picked[at + 1 :] + [picked[at]]


def sizes_for(n_labels: int, pool: int, n: int) -> list[int]:
    ks = [n_labels, 2 * n_labels, 3 * n_labels] if 3 <= n_labels <= 8 else [4, 8, 12]
    ks = sorted({min(k, pool, MAX_EXAMPLES) for k in ks if k > 0})
    return ks[:n]


def example_sets(
    order: list[int], outputs: list[str], n: int, pool: int
) -> list[tuple[str, int, list[int]]]:
    """(kind, k, picked indices): balanced and label-prior sets, interleaved, distinct, each
    ending with an example of the commonest label (see the module's docstring)."""
    mix = Counter(o.strip().lower() for o in outputs)
    bal = [
        ("balanced", k, commonest_last(_balanced(order, outputs, k), outputs, mix))
        for k in sizes_for(len(mix), pool, n)
    ]
    pri_ks = sorted({min(k, pool, MAX_EXAMPLES) for k in (8, MAX_EXAMPLES)})[:n]
    pri = [
        ("label prior", k, commonest_last(_prior(order, outputs, k), outputs, mix)) for k in pri_ks
    ]
    out, seen = [], set()
    for i in range(max(len(bal), len(pri))):
        for group in (bal, pri):
            if i < len(group) and tuple(sorted(group[i][2])) not in seen:
                seen.add(tuple(sorted(group[i][2])))
                out.append(group[i])
    ranks = mix.most_common(2)
    if len(ranks) == 2 and ranks[0][1] >= MODE_LEAD * ranks[1][1]:
        top = ranks[0][0]
        only = [i for i in order if outputs[i].strip().lower() == top][:COMMONEST_K]
        if tuple(sorted(only)) not in seen:
            out.append(("commonest label", len(only), only))
    return out


class FewShot:
    name = "few_shot"

    def propose(self, ctx: TrainContext, n: int) -> list[Candidate]:
        import numpy as np

        from ptrain.llm.embed import mmr  # lazy: numpy, only when the operator runs

        existing = ctx.prompt.spec.examples
        have = {
            "\n".join(f"{k}: {v}" for k, v in ex.inputs.items()).strip().lower() for ex in existing
        }
        pool = _dedupe(ctx.positives(), have)
        if not pool:
            ctx.notes.append(
                "few_shot: no high-rated interactions with inputs and output to learn from"
            )
            return []
        emb = ctx.embedder_factory()
        vecs = emb.embed([p.input_text() for p in pool])
        traffic = [i.input_text() for i in ctx.interactions] or [p.input_text() for p in pool]
        centroid = emb.embed(traffic).mean(axis=0)
        centroid = centroid / (np.linalg.norm(centroid) or 1.0)
        order = mmr(centroid, vecs, len(pool), lambda_=0.5)
        outputs = [p.output or "" for p in pool]
        mix = Counter(o.strip().lower() for o in outputs)
        mix_text = ", ".join(f"{lab} {c}" for lab, c in mix.most_common())
        out = self._similar(ctx, [pool[i] for i in order[:MAX_POOL]], mix_text)
        for kind, _k, picked in example_sets(order, outputs, n, len(pool)):
            chosen = [pool[i] for i in picked]
            examples = [{"inputs": ex.inputs, "output": ex.output} for ex in existing]
            examples += [{"inputs": c.inputs, "output": (c.output or "").strip()} for c in chosen]
            text = with_examples(ctx.text, examples)
            shown = Counter((c.output or "").strip().lower() for c in chosen)
            how = {
                "balanced": f"balanced over {len(shown)} labels",
                "label prior": f"following the label mix of the pool ({mix_text})",
            }.get(
                kind,
                f"all of the pool's commonest label ({mix_text}): the label prior at its "
                "sharpest, the floor a classifier should beat",
            )
            out.append(
                Candidate(
                    approach=self.name,
                    label=f"few_shot {kind} k={len(chosen)}",
                    text=text,
                    rationale=(
                        f"Added {len(chosen)} high-rated interactions as examples, chosen by "
                        f"semantic similarity to production traffic with diversity (MMR, λ=0.5), "
                        f"{how}."
                    ),
                    feedback_ids=[c.id for c in chosen if c.source == "feedback"],
                    case_ids=[c.id for c in chosen if c.source == "eval"],
                )
            )
        return out

    def _similar(self, ctx: TrainContext, pool: list[Interaction], mix: str) -> list[Candidate]:
        """The pool as per-call examples: each call shows the k nearest its inputs."""
        spec = ctx.prompt.spec
        current = spec.example_selection.k if spec.example_selection else None
        ks = [k for k in SIMILAR_KS if k != current and k < len(spec.examples) + len(pool)]
        examples = [{"inputs": ex.inputs, "output": ex.output} for ex in spec.examples]
        examples += [{"inputs": c.inputs, "output": (c.output or "").strip()} for c in pool]
        pooled = with_examples(ctx.text, examples)
        out = []
        for k in ks:
            text = rewrite_prompt_text(pooled, {"example_selection": {"by": "similarity", "k": k}})
            out.append(
                Candidate(
                    approach=self.name,
                    label=f"few_shot similar k={k} of {len(examples)}",
                    text=text,
                    rationale=(
                        f"Kept {len(pool)} high-rated interactions as a pool of examples; each "
                        f"call shows the {k} whose inputs are most similar to its own "
                        f"(example_selection, MiniLM embeddings), the nearest last. Pool label "
                        f"mix: {mix}."
                    ),
                    feedback_ids=[c.id for c in pool if c.source == "feedback"],
                    case_ids=[c.id for c in pool if c.source == "eval"],
                )
            )
        return out
