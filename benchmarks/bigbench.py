"""BIG-bench tasks from ../shared/datasets (Apache-2.0), split the same way everywhere.

Examples are shuffled with ``random.Random(0)``; callers take disjoint slices for what training
may build from and what is held out for scoring.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

DATASETS = Path(
    os.environ.get("PTRAIN_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets")
)


def load(task: str) -> tuple[list[tuple[str, str]], list[str], str]:
    """(examples as (input, label), sorted labels, task prefix) of a BIG-bench task."""
    path = DATASETS / "bigbench" / f"{task}.json"
    d = json.loads(path.read_text())
    out = []
    for e in d["examples"]:
        scores = e["target_scores"]
        label = max(scores, key=scores.get)
        text = e["input"].strip()
        for prefix in ("Utterance: ",):
            text = text.removeprefix(prefix)
        out.append((text, label))
    random.Random(0).shuffle(out)
    labels = sorted({lab for _, lab in out})
    return out, labels, d.get("task_prefix", "").strip()
