"""Feedback speed: summary cold/warm vs DuckDB on the same files, append, `feedback add`.

    python benchmarks/feedback_bench.py [--records 1000000] [--runs 5]

Generates realistic records (5 prompts x 3 versions, 30 days, 2 writers; kinds success 70%,
error 8%, rating 15%, suggestion 3%, metric 4%; inputs/outputs/messages of realistic lengths)
into benchmarks/.data/feedback-<N>/ (gitignored; reused if already there), then times, each
the median of --runs runs, in the same process and on the same files:

* DuckDB declared: ``read_json`` with declared columns (no inference) over the same shards and
  one ``GROUP BY prompt, version`` computing the very numbers of ptrain's summary (counts per
  kind, ratings and their average, suggestions, p50/p95 latency, average tokens, first/last ts);
* DuckDB auto: the same with ``read_json_auto`` (schema inferred), for reference;
* ptrain cold: ``summarize(by="version")`` with the cache deleted before each run;
* ptrain warm: the same call with the cache in place and nothing changed;
* ptrain +1 record: append one record, then summarise (one shard read again);
* batched append: ``record_many`` of 50,000 records (validation and redaction included);
* ``ptrain feedback add``: the console script in a fresh process, in a small prompt repo.

Cold and DuckDB declared runs are interleaved (alternating which goes first) so machine load hits
both alike, after one untimed run of each side (page cache, imports); DuckDB auto, a reference
ten times slower that unsettles whatever runs next, is timed after them.
ptrain's rows must equal DuckDB's to the record: every count exactly, averages and percentiles
equal after ptrain's rounding (4 decimals for rates, 1 for ms and tokens).
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


def median_time(fn, runs: int, before=None) -> tuple[float, object]:
    times, out = [], None
    for _ in range(runs):
        if before:
            before()
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


COLUMNS = (
    "{ts: 'VARCHAR', prompt: 'VARCHAR', version: 'VARCHAR', version_number: 'INTEGER', "
    "kind: 'VARCHAR', rating: 'DOUBLE', suggestion: 'VARCHAR', latency_ms: 'DOUBLE', "
    "prompt_tokens: 'BIGINT', completion_tokens: 'BIGINT'}"
)
DUCK_SQL = """
SELECT prompt, version, max(version_number), count(*),
       count_if(kind = 'error'), count_if(kind = 'success'), count(rating), avg(rating),
       count(suggestion), count_if(kind = 'metric'), count(latency_ms),
       quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.95),
       avg(prompt_tokens), avg(completion_tokens), min(ts), max(ts)
FROM {source}
GROUP BY prompt, version ORDER BY prompt, version
"""
DECLARED = (
    "read_json('{glob}', format = 'newline_delimited', columns = "
    + COLUMNS.replace("{", "{{").replace("}", "}}")
    + ")"
)
AUTO = "read_json_auto('{glob}', format = 'newline_delimited', union_by_name = true)"


def _r(x, digits):
    return None if x is None else round(x, digits)


def check_equal(rows: list[dict], ref: list[tuple]) -> int:
    """ptrain's summary rows == DuckDB's, record for record. Returns the rows compared."""
    ours = {(r["prompt"], r["version"]): r for r in rows}
    assert len(ours) == len(ref), (len(ours), len(ref))
    for p, v, vn, n, err, ok, nr, avg, sg, nm, nl, p50, p95, pt, ct, t0, t1 in ref:
        r = ours[(p, v)]
        got = (r["version_number"], r["count"], r["errors"], r["successes"], r["ratings"],
               r["avg_rating"], r["suggestions"], r["metrics"], r["latency_samples"],
               r["latency_p50_ms"], r["latency_p95_ms"], r["avg_prompt_tokens"],
               r["avg_completion_tokens"], r["first_ts"], r["last_ts"])  # fmt: skip
        want = (vn, n, err, ok, nr, _r(avg, 4), sg, nm, nl, _r(p50, 1), _r(p95, 1), _r(pt, 1),
                _r(ct, 1), t0, t1)  # fmt: skip
        assert got == want, (p, v, got, want)
    return len(ref)


def feedback_add_times(runs: int) -> list[float]:
    import subprocess
    import tempfile

    exe = Path(sys.executable).with_name("ptrain")
    # bytecode written and used, as in an installed ptrain (the first, warm-up run writes it)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as d:

        def run(*args: str) -> None:
            subprocess.run([str(exe), *args], cwd=d, env=env, check=True, capture_output=True)

        run("init", ".")
        run("prompt", "create", "support/triage", "--template", "Classify: {message}")
        run("prompt", "deploy", "support/triage", "1", "--env", "production")
        run("feedback", "add", "support/triage", "--rating", "1")  # warm the OS caches
        out = []
        for _ in range(runs):
            t = time.perf_counter()
            run("feedback", "add", "support/triage", "--rating", "0.9", "-m", "fine")
            out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=5)
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
    print(f"data: {args.records:,} records, {len(files)} shards, {size / 1e6:.0f} MB, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip

    import duckdb

    con = duckdb.connect()
    glob = str(data / "**" / "*.jsonl")
    declared_sql = DUCK_SQL.format(source=DECLARED.format(glob=glob))
    auto_sql = DUCK_SQL.format(source=AUTO.format(glob=glob))
    cache = data / ".ptrain"
    times: dict[str, list[float]] = {"cold": [], "declared": [], "auto": []}
    ref = cold_rows = None
    # untimed warm-up: the OS page cache holds the shards and both sides have their modules
    # loaded, so the first timed run of neither pays for the disk or the imports
    con.execute(declared_sql).fetchall()
    fb.summarize(data, by="version", use_cache=False)
    for i in range(args.runs):  # interleaved: cold and declared (alternating who goes first), auto

        def cold() -> list:
            shutil.rmtree(cache, ignore_errors=True)
            t = time.perf_counter()
            rows = fb.summarize(data, by="version").rows
            times["cold"].append(time.perf_counter() - t)
            return rows

        def declared() -> list:
            t = time.perf_counter()
            rows = con.execute(declared_sql).fetchall()
            times["declared"].append(time.perf_counter() - t)
            return rows

        if i % 2 == 0:
            cold_rows, ref = cold(), declared()
        else:
            ref, cold_rows = declared(), cold()
    # read_json_auto after, not between: its 6 s of inference over every line spread the cold
    # and declared runs that followed it (cold 0.74-1.08 s with it interleaved, 0.70-0.89 s without)
    for _ in range(args.runs):
        t = time.perf_counter()
        con.execute(auto_sql).fetchall()
        times["auto"].append(time.perf_counter() - t)
    compared = check_equal(cold_rows, ref)

    warm, s_warm = median_time(lambda: fb.summarize(data, by="version"), args.runs * 4)
    assert s_warm.stats.parsed == 0 and s_warm.rows == cold_rows

    def one_more():
        fb.record(data, {"prompt": "docs/qa", "kind": "success", "latency_ms": 500.0,
                         "ts": "2026-10-30T12:00:00Z"}, writer="3f9a0c1e-5b2d11")  # fmt: skip
        return fb.summarize(data, by="version")

    tail, s_tail = median_time(one_more, args.runs)
    assert s_tail.stats.parsed == 1
    check_equal(s_tail.rows, con.execute(declared_sql).fetchall())  # still equal after appends
    # leave the data as generated for the next run
    shard = data / "docs/qa/2026-10-30/3f9a0c1e-5b2d11.jsonl"
    lines = shard.read_bytes().split(b"\n")
    shard.write_bytes(b"\n".join(lines[: -1 - args.runs]) + b"\n")
    shutil.rmtree(cache, ignore_errors=True)

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
    adds = feedback_add_times(max(10, args.runs * 2))

    med = {k: statistics.median(v) for k, v in times.items()}
    d = med["declared"]
    print()
    print(
        f"medians of {args.runs} interleaved runs; ptrain rows equal DuckDB's: {compared} (prompt, version) rows"
    )
    print()
    print("| measurement | median | vs DuckDB declared | target |")
    print("|---|---:|---:|---|")
    print(
        f"| DuckDB `read_json`, declared columns + `GROUP BY` (same numbers) | {d * 1000:,.0f} ms | 1.00x | - |"
    )
    print(
        f"| DuckDB `read_json_auto` (schema inferred) | {med['auto'] * 1000:,.0f} ms | {med['auto'] / d:.2f}x | - |"
    )
    print(
        f"| ptrain summary, cold (no cache) | {med['cold'] * 1000:,.0f} ms | {med['cold'] / d:.2f}x | <= 1.2x |"
    )
    print(f"| ptrain summary, warm (cached) | {warm * 1000:,.1f} ms | {warm / d:.4f}x | <= 50 ms |")
    print(f"| ptrain append 1 + summary | {tail * 1000:,.1f} ms | {tail / d:.3f}x | - |")
    print(
        f"| batched append (`record_many`, {args.append:,} records) | {args.append / append_s:,.0f} rec/s | - | >= 20,000 rec/s |"
    )
    print(
        f"| `ptrain feedback add` (fresh process, {len(adds)} runs) | {statistics.median(adds) * 1000:,.0f} ms | - | <= 200 ms |"
    )
    print()
    print("per-run seconds:", {k: [round(x, 2) for x in v] for k, v in times.items()})
    print("feedback add ms:", [round(x * 1000) for x in adds])


if __name__ == "__main__":
    main()
