"""Feedback speed: summary cold/warm vs DuckDB on the same files, and batched append throughput.

    pip install duckdb          # benchmark-only dependency (the `bench` extra)
    python benchmarks/feedback_bench.py [--records 1000000] [--runs 3]

Generates realistic records (5 prompts x 3 versions, 30 days, 2 writers; kinds success 70%,
error 8%, rating 15%, suggestion 3%, metric 4%; inputs/outputs/messages of realistic lengths)
into benchmarks/.data/feedback-<N>/ (gitignored; reused if already there), then times, each
the median of --runs runs, in the same process and on the same files:

* ptrain cold: ``summarize(by="version")`` with the shard cache deleted before each run;
* ptrain warm: the same call with the cache in place and nothing changed;
* ptrain +1 record: append one record, then summarise (one shard tail re-parsed);
* DuckDB: ``read_json_auto`` over the same shards + ``GROUP BY prompt, version`` computing the
  same numbers (counts per kind, average rating, suggestions, p50/p95 latency, average tokens);
* batched append: ``record_many`` of 50,000 records (pydantic validation included).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ptrain import feedback as fb  # noqa: E402
from ptrain.storage import jsonl  # noqa: E402

PROMPTS = ["support/triage", "support/reply", "billing/summarize", "search/rewrite", "docs/qa"]
_SENTENCE = (
    "the a to of and my order account card charged twice refund please help when why how can you "
    "invoice payment failed login password reset shipping delayed package address update plan "
    "upgrade cancel subscription billing error message app crash slow search results wrong answer "
    "thanks great not helpful too long short rude correct missing detail customer tier gold silver"
)
WORDS = _SENTENCE.split(" ")


def _text(rng: random.Random, lo: int, hi: int) -> str:
    n = rng.randint(lo, hi) // 6 + 1
    return " ".join(rng.choices(WORDS, k=n))


def generate(root: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    versions = {p: [(f"{rng.getrandbits(160):040x}", i + 1) for i in range(3)] for p in PROMPTS}
    days = [f"2026-10-{d:02d}" for d in range(1, 31)]
    writers = ["3f9a0c1e-5b2d11", "8c41d2aa-0e7f42"]
    buf: dict[Path, list[bytes]] = {}
    dumps = jsonl.dumps
    for i in range(n):
        prompt = PROMPTS[i % 5] if rng.random() < 0.6 else rng.choice(PROMPTS)
        version, number = rng.choice(versions[prompt])
        day = rng.choice(days)
        ts = f"{day}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999):03d}Z"
        x = rng.random()
        kind = (
            "success" if x < 0.70 else "error" if x < 0.78 else "rating" if x < 0.93
            else "suggestion" if x < 0.96 else "metric"
        )  # fmt: skip
        rec: dict = {"schema_version": 1, "id": f"{i:012x}{rng.getrandbits(80):020x}", "ts": ts,
                     "prompt": prompt, "version": version, "version_number": number,
                     "env": "production" if rng.random() < 0.9 else "staging"}  # fmt: skip
        if rng.random() < 0.2:
            rec["variant"] = rng.choice(["A", "B"])
        rec["kind"] = kind
        if kind in ("success", "error", "metric"):
            rec["latency_ms"] = round(rng.lognormvariate(6.5, 0.6), 1)
            rec["prompt_tokens"] = rng.randint(80, 1200)
            if kind != "error":
                rec["completion_tokens"] = rng.randint(5, 400)
        if kind == "error":
            rec["error_type"] = rng.choice(["TimeoutError", "RateLimitError", "APIConnectionError"])
            rec["error_message"] = _text(rng, 30, 160)
        if kind in ("rating", "suggestion"):
            rec["rating"] = round(rng.betavariate(5, 2), 2)
            rec["message"] = _text(rng, 0, 200)
        if kind == "suggestion":
            rec["suggestion"] = _text(rng, 40, 300)
        if kind == "metric":
            rec["metrics"] = {"cost_usd": round(rng.random() / 100, 5)}
        if kind in ("success", "error"):
            rec["inputs"] = {
                "message": _text(rng, 50, 400),
                "customer_tier": rng.choice(["gold", "silver"]),
            }
            if kind == "success":
                rec["output"] = _text(rng, 20, 600)
        rec["source"] = "automated" if kind in ("success", "error", "metric") else "user"
        if kind in ("success", "error"):
            rec["run_id"] = f"{rng.getrandbits(128):032x}"
            rec["metadata"] = {"app": "web", "region": rng.choice(["eu", "us"])}
        path = root / prompt / day / f"{rng.choice(writers)}.jsonl"
        buf.setdefault(path, []).append(dumps(rec) + b"\n")
    for path, lines in buf.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            f.write(b"".join(lines))


def close(a, b, rel: float) -> bool:
    return (a is None and b is None) or abs(a - b) <= rel * abs(b) + 1e-3


def median_time(fn, runs: int, before=None) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        if before:
            before()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


DUCK_SQL = """
SELECT prompt, version, count(*) AS n,
       count(*) FILTER (WHERE kind = 'error') AS errors,
       count(*) FILTER (WHERE kind = 'success') AS successes,
       avg(rating) AS avg_rating, count(suggestion) AS suggestions,
       quantile_cont(latency_ms, 0.5) AS p50, quantile_cont(latency_ms, 0.95) AS p95,
       avg(prompt_tokens) AS pt, avg(completion_tokens) AS ct
FROM read_json_auto('{glob}', format = 'newline_delimited', union_by_name = true)
GROUP BY prompt, version ORDER BY prompt, version
"""

DUCK_TYPED_SQL = DUCK_SQL.replace(
    "read_json_auto('{glob}', format = 'newline_delimited', union_by_name = true)",
    "read_json('{glob}', format = 'newline_delimited', columns = {{prompt: 'VARCHAR', "
    "version: 'VARCHAR', kind: 'VARCHAR', rating: 'DOUBLE', suggestion: 'VARCHAR', "
    "latency_ms: 'DOUBLE', prompt_tokens: 'BIGINT', completion_tokens: 'BIGINT'}})",
)
assert DUCK_TYPED_SQL != DUCK_SQL


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--append", type=int, default=50_000)
    args = ap.parse_args()

    data = Path(__file__).resolve().parent / ".data" / f"feedback-{args.records}"
    marker = data / ".complete"
    if not marker.exists():
        shutil.rmtree(data, ignore_errors=True)
        data.mkdir(parents=True)
        t = time.perf_counter()
        generate(data, args.records)
        marker.write_text("ok\n")
        print(
            f"generated {args.records:,} records in {time.perf_counter() - t:.1f}s", file=sys.stderr
        )
    files = list(data.rglob("*.jsonl"))
    size = sum(p.stat().st_size for p in files)
    print(
        f"data: {args.records:,} records, {len(files)} shards, {size / 1e6:.0f} MB, {os.cpu_count()} CPUs"
    )

    cache = data / ".ptrain"

    def drop_cache():
        shutil.rmtree(cache, ignore_errors=True)

    import duckdb

    con = duckdb.connect()
    glob = str(data / "**" / "*.jsonl")

    def duck():
        return con.execute(DUCK_SQL.format(glob=glob)).fetchall()

    def duck_typed():
        return con.execute(DUCK_TYPED_SQL.format(glob=glob)).fetchall()

    cold, s_cold = median_time(lambda: fb.summarize(data, by="version"), args.runs, drop_cache)
    d_time, d_rows = median_time(duck, args.runs)
    dt_time, dt_rows = median_time(duck_typed, args.runs)
    assert sorted((r[:5] for r in dt_rows), key=str) == sorted((r[:5] for r in d_rows), key=str)
    warm, s_warm = median_time(lambda: fb.summarize(data, by="version"), args.runs)
    assert s_warm.stats.parsed_full == 0 and s_warm.rows == s_cold.rows

    def one_more():
        fb.record(data, {"prompt": "docs/qa", "kind": "success", "latency_ms": 500.0,
                         "ts": "2026-10-30T12:00:00Z"}, writer="3f9a0c1e-5b2d11")  # fmt: skip
        return fb.summarize(data, by="version")

    tail, s_tail = median_time(one_more, args.runs)
    assert s_tail.stats.parsed_tail == 1 and s_tail.stats.parsed_full == 0

    # same numbers as DuckDB (before the extra records, so compare with the cold run)
    ours = {(r["prompt"], r["version"]): r for r in s_cold.rows}
    for prompt, version, n, errors, successes, avg_rating, sugg, p50, p95, pt, ct in d_rows:
        r = ours[(prompt, version)]
        assert (r["count"], r["errors"], r["successes"], r["suggestions"]) == (
            n,
            errors,
            successes,
            sugg,
        )
        assert close(r["avg_rating"], avg_rating, 1e-6) and close(r["avg_prompt_tokens"], pt, 1e-3)
        assert close(r["avg_completion_tokens"], ct, 1e-3)
        assert close(r["latency_p50_ms"], p50, 0.025) and close(r["latency_p95_ms"], p95, 0.025)

    spool = data.parent / "append-spool"
    shutil.rmtree(spool, ignore_errors=True)
    recs = [{"prompt": PROMPTS[i % 5], "kind": "success", "latency_ms": 100.0 + i % 900, "prompt_tokens": 200,
             "completion_tokens": 50, "version": "a" * 40, "env": "production",
             "inputs": {"message": "my card was charged twice, please refund"},
             "output": "billing"} for i in range(args.append)]  # fmt: skip
    t = time.perf_counter()
    fb.record_many(spool, recs)
    append_s = time.perf_counter() - t
    shutil.rmtree(spool, ignore_errors=True)

    print()
    print("| measurement | median | vs DuckDB | target |")
    print("|---|---:|---:|---|")
    print(f"| DuckDB `read_json_auto` + `GROUP BY` | {d_time * 1000:,.0f} ms | 1.00x | - |")
    print(
        f"| DuckDB `read_json`, declared columns (no inference) | {dt_time * 1000:,.0f} ms"
        f" | {dt_time / d_time:.2f}x | - |"
    )
    print(
        f"| ptrain summary, cold (no cache) | {cold * 1000:,.0f} ms | {cold / d_time:.2f}x | <= 1.0x |"
    )
    print(
        f"| ptrain summary, warm (cached) | {warm * 1000:,.1f} ms | {warm / d_time:.3f}x | <= 50 ms |"
    )
    print(f"| ptrain append 1 + summary | {tail * 1000:,.1f} ms | {tail / d_time:.3f}x | - |")
    print(
        f"| batched append (`record_many`, {args.append:,} records) | {args.append / append_s:,.0f} rec/s | - | >= 20,000 rec/s |"
    )
    print()
    print(f"cold stats: {s_cold.stats.to_dict()}")
    print(f"warm stats: {s_warm.stats.to_dict()}")
    print(f"+1 stats:   {s_tail.stats.to_dict()}")


if __name__ == "__main__":
    main()
