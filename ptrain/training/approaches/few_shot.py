"""few_shot: write the best real interactions into the prompt as examples.

The pool is every high-rated interaction (rating ≥ 0.8) with its inputs and output, plus the
build-split eval cases that have an expected output. Inputs are embedded (the configured
embedder; FAISS for search) and picked by maximal marginal relevance against the centroid of the
production traffic — relevant to what users send, diverse among themselves — then balanced over
the distinct outputs, so a classifier sees every label rather than eight examples of the
commonest one. Candidates differ in how many examples they carry.
"""

from __future__ import annotations

from collections import OrderedDict

from ptrain.training.base import Candidate, Interaction, TrainContext
from ptrain.training.edits import with_examples

MAX_EXAMPLES = 16


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


def sizes_for(n_labels: int, pool: int, n: int) -> list[int]:
    ks = [n_labels, 2 * n_labels, 3 * n_labels] if 2 <= n_labels <= 8 else [4, 8, 12]
    ks = sorted({min(k, pool, MAX_EXAMPLES) for k in ks if k > 0})
    return ks[:n]


class FewShot:
    name = "few_shot"

    def propose(self, ctx: TrainContext, n: int) -> list[Candidate]:
        import numpy as np

        from ptrain.llm.embed import mmr

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
        n_labels = len({o.strip().lower() for o in outputs})
        out = []
        for k in sizes_for(n_labels, len(pool), n):
            chosen = [pool[i] for i in _balanced(order, outputs, k)]
            examples = [{"inputs": ex.inputs, "output": ex.output} for ex in existing]
            examples += [{"inputs": c.inputs, "output": (c.output or "").strip()} for c in chosen]
            text = with_examples(ctx.text, examples)
            out.append(
                Candidate(
                    approach=self.name,
                    label=f"few_shot k={k}",
                    text=text,
                    rationale=(
                        f"Added {len(chosen)} high-rated interactions as examples, chosen by "
                        f"semantic similarity to production traffic with diversity (MMR, λ=0.5) "
                        f"and balanced over {min(n_labels, k)} distinct outputs."
                    ),
                    feedback_ids=[c.id for c in chosen if c.source == "feedback"],
                    case_ids=[c.id for c in chosen if c.source == "eval"],
                )
            )
        return out
