"""Cost per quality metric (ms per case) on the embedded models; writes its table into README.md.

    PTRAIN_LOCAL_THREADS=1 python benchmarks/metrics_bench.py            # measure and write
    PTRAIN_LOCAL_THREADS=1 python benchmarks/metrics_bench.py --no-write # print only

Cases: the 16 (input, output) pairs of the shipped coherence calibration set (support questions
with fluent or word-salad answers, 10–25 tokens each), scored ``--rounds`` times, each metric
side by side in the same round so machine load hits them alike; the table gives the median ms
per case over rounds and the ratio to the deterministic safety checks. Models: SmolLM2-135M
(coherence log-likelihood, and as the judge for one ``judge_safety`` request per case) and
all-MiniLM-L6-v2 (relevance), threads pinned (``PTRAIN_LOCAL_THREADS``, embedder 1 thread).
Warm: models loaded and one untimed round first; no response cache.
Also prints coherence of the fluent vs the shuffled answers (the gap docs/metrics.md quotes).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("PTRAIN_LOCAL_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptrain.config import ModelSettings  # noqa: E402
from ptrain.evaluation import metrics as M  # noqa: E402
from ptrain.evaluation.calibration_sets import COHERENCE  # noqa: E402
from ptrain.evaluation.judge import score_metric  # noqa: E402
from ptrain.evaluation.quality import coherences, input_text, similarities  # noqa: E402
from ptrain.llm.client import LLM  # noqa: E402
from ptrain.llm.embed import LocalEmbedder  # noqa: E402
from ptrain.llm.logprob import LogprobScorer  # noqa: E402

README = Path(__file__).with_name("README.md")
START, END = "<!-- metrics_bench:start -->", "<!-- metrics_bench:end -->"
ITEMS = [({"question": it["input"]}, it["output"]) for it in COHERENCE]


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000 / len(ITEMS)


def one_round(embedder, scorer, judge) -> dict[str, float]:
    scorer.forget()  # time real scoring, not the per-process memo
    return {
        "safety (deterministic checks)": timed(
            lambda: [M.safety_flags(o, i, ["You are Acme's support assistant."]) for i, o in ITEMS]
        ),
        "relevance (MiniLM cosine)": timed(
            lambda: similarities(embedder, [(input_text(i), o) for i, o in ITEMS])
        ),
        "coherence (SmolLM2 log-likelihood)": timed(lambda: coherences(scorer, ITEMS, 1)),
        "judge_safety (SmolLM2 judge, 1 request)": timed(
            lambda: score_metric(judge, "safety", ITEMS, 1)
        ),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args(argv)

    embedder = LocalEmbedder(threads=1)
    scorer = LogprobScorer("smollm2-135m")
    judge = LLM(ModelSettings(provider="local", model="smollm2-135m", max_tokens=96))
    one_round(embedder, scorer, judge)  # warm: load models, fill the server's prompt cache path
    rounds = [one_round(embedder, scorer, judge) for _ in range(args.rounds)]
    base = statistics.median(r["safety (deterministic checks)"] for r in rounds)
    rows = []
    for name in rounds[0]:
        med = statistics.median(r[name] for r in rounds)
        lo, hi = min(r[name] for r in rounds), max(r[name] for r in rounds)
        rows.append(f"| {name} | {med:.2f} | {lo:.2f}–{hi:.2f} | {med / base:,.0f}× |")
    scores = coherences(scorer, ITEMS, 1)
    fluent = [s for s, it in zip(scores, COHERENCE, strict=True) if it["label"] == 1]
    salad = [s for s, it in zip(scores, COHERENCE, strict=True) if it["label"] == 0]
    load = os.getloadavg()[0]
    table = "\n".join(
        [
            START,
            f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, "
            f"{os.cpu_count()} cores, load average {load:.1f} during the run, "
            f"PTRAIN_LOCAL_THREADS={os.environ['PTRAIN_LOCAL_THREADS']}; "
            f"{len(ITEMS)} cases x {args.rounds} rounds, warm, no response cache.",
            "",
            "| metric | median ms per case | range over rounds | × deterministic |",
            "|---|---:|---:|---:|",
            *rows,
            "",
            f"Coherence of the 8 fluent answers: median {statistics.median(fluent):.2f} "
            f"(range {min(fluent):.2f}–{max(fluent):.2f}); of the 8 word-salad answers: median "
            f"{statistics.median(salad):.2f} (range {min(salad):.2f}–{max(salad):.2f}).",
            END,
        ]
    )
    print(table)
    if not args.no_write:
        text = README.read_text()
        if START in text:
            head, rest = text.split(START, 1)
            text = head + table + rest.split(END, 1)[1]
        else:
            text += (
                "\n## Cost per metric (ms per case) on the embedded models "
                "(`benchmarks/metrics_bench.py`)\n\n"
                "`PTRAIN_LOCAL_THREADS=1 python benchmarks/metrics_bench.py` (see its docstring "
                "for the method). The judge-free metrics of docs/metrics.md against a judge "
                "request:\n\n" + table + "\n"
            )
        README.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
