"""Summaries: the numbers, the per-shard cache (nothing re-parsed; only tails), since, prune."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest

from ptrain import feedback as fb

V1, V2 = "a" * 40, "b" * 40


def _seed(root, day="2026-11-01", writer="w"):
    recs = []
    for i in range(10):  # v1: 8 successes, 2 errors, latencies 100..1000
        kind = "error" if i < 2 else "success"
        extra = (
            {"error_type": "Timeout"}
            if kind == "error"
            else {"prompt_tokens": 100, "completion_tokens": 20}
        )
        recs.append({"prompt": "support/triage", "version": V1, "version_number": 1, "kind": kind,
                     "latency_ms": 100.0 * (i + 1), "ts": f"{day}T10:00:{i:02d}Z", **extra})  # fmt: skip
    recs += [
        {"prompt": "support/triage", "version": V1, "kind": "rating", "rating": 0.5, "ts": f"{day}T11:00:00Z"},
        {"prompt": "support/triage", "version": V2, "version_number": 2, "kind": "rating", "rating": 1.0,
         "suggestion": "shorter", "ts": f"{day}T11:00:00Z", "variant": "B"},
        {"prompt": "support/triage", "version": V2, "kind": "suggestion", "suggestion": "use the tier",
         "ts": f"{day}T12:00:00Z", "variant": "B"},
        {"prompt": "billing", "kind": "metric", "metrics": {"cost": 0.1}, "ts": f"{day}T12:00:00Z"},
    ]  # fmt: skip
    fb.record_many(root, recs, writer=writer)


def test_summary_numbers_by_prompt_and_version(spool):
    _seed(spool)
    rows = {r["prompt"]: r for r in fb.summarize(spool).rows}
    t = rows["support/triage"]
    assert (t["count"], t["calls"], t["errors"], t["successes"]) == (13, 10, 2, 8)
    assert t["error_rate"] == 0.2 and t["success_rate"] == 0.8
    assert t["ratings"] == 2 and t["avg_rating"] == 0.75 and t["suggestions"] == 2
    assert t["avg_prompt_tokens"] == 100.0 and t["avg_completion_tokens"] == 20.0
    # exact interpolated quantiles of 100..1000 (DuckDB quantile_cont)
    assert t["latency_p50_ms"] == 550.0 and t["latency_p95_ms"] == 955.0
    assert rows["billing"]["count"] == 1 and rows["billing"]["error_rate"] is None

    by_v = {(r["prompt"], r["version"]): r for r in fb.summarize(spool, by="version").rows}
    assert (
        by_v[("support/triage", V1)]["count"] == 11
        and by_v[("support/triage", V1)]["version_number"] == 1
    )
    assert (
        by_v[("support/triage", V2)]["count"] == 2
        and by_v[("support/triage", V2)]["version_number"] == 2
    )
    by_variant = {
        r["variant"]: r["count"] for r in fb.summarize(spool, "support/triage", by="variant").rows
    }
    assert by_variant == {None: 11, "B": 2}


def test_repeated_summary_reparses_nothing_and_an_append_only_the_tail(spool):
    for d in range(1, 6):
        _seed(spool, day=f"2026-11-0{d}")
    cold = fb.summarize(spool)
    assert cold.stats.parsed == 10 and cold.stats.cached == 0

    warm = fb.summarize(spool)
    assert warm.rows == cold.rows
    assert (warm.stats.parsed, warm.stats.bytes_parsed) == (0, 0)
    assert warm.stats.cached == 10

    new = fb.record(spool, {"prompt": "support/triage", "kind": "error", "error_message": "x",
                            "ts": "2026-11-03T13:00:00Z"}, writer="w")  # fmt: skip
    after = fb.summarize(spool)
    assert (after.stats.parsed, after.stats.cached) == (1, 9)  # only the shard that grew
    shard = spool / "support/triage/2026-11-03/w.jsonl"
    assert after.stats.bytes_parsed == shard.stat().st_size
    assert shard.read_bytes().endswith(new.to_line())
    t = {r["prompt"]: r for r in after.rows}["support/triage"]
    assert t["errors"] == 11 and t["count"] == 66

    # a rewritten shard (same size, other bytes, new mtime) is read again
    data = shard.read_bytes().replace(b'"rating":0.5', b'"rating":0.0')
    st = shard.stat()
    shard.write_bytes(data)
    os.utime(shard, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    s = fb.summarize(spool)
    assert s.stats.parsed == 1
    assert {r["prompt"]: r for r in s.rows}["support/triage"]["avg_rating"] == pytest.approx(0.7)

    # no cache: the same numbers
    assert fb.summarize(spool, use_cache=False).rows == s.rows


def test_env_and_variant_are_read_once_asked_for_and_kept(spool):
    for d in range(1, 4):
        _seed(spool, day=f"2026-11-0{d}")
    fb.record(spool, {"prompt": "support/triage", "kind": "success", "env": "staging",
                      "ts": "2026-11-02T13:00:00Z"}, writer="w")  # fmt: skip
    by_v = fb.summarize(spool, by="version")
    assert by_v.stats.parsed == 6
    # the cache was built without env: asking for it reads every shard once more ...
    by_env = fb.summarize(spool, by="env")
    assert by_env.stats.parsed == 6
    assert _counts(by_env, "env") == {None: 39, "staging": 1}
    # ... and keeps it: by version and by env again, then an append, read only what changed
    assert fb.summarize(spool, by="version").stats.parsed == 0
    assert fb.summarize(spool, by="version").rows == by_v.rows
    fb.record(spool, {"prompt": "support/triage", "kind": "success", "env": "staging",
                      "ts": "2026-11-03T13:00:00Z"}, writer="w")  # fmt: skip
    again = fb.summarize(spool, by="env")
    assert again.stats.parsed == 1
    assert _counts(again, "env") == {None: 39, "staging": 2}
    # variant was never asked for: the first summary by it reads everything, with env kept
    by_variant = fb.summarize(spool, by="variant")
    assert by_variant.stats.parsed == 6
    assert _counts(by_variant, "variant") == {None: 35, "B": 6}
    assert fb.summarize(spool, by="env").stats.parsed == 0
    assert fb.summarize(spool, by="env").rows == again.rows


def _counts(summary, key):
    return {r[key]: r["count"] for r in summary.rows if r["prompt"] == "support/triage"}


def test_summary_equals_duckdb_over_the_raw_files(spool):
    import duckdb

    for d in range(1, 4):
        _seed(spool, day=f"2026-11-0{d}")
    ours = {(r["prompt"], r["version"]): r for r in fb.summarize(spool, by="version").rows}
    ref = duckdb.sql(
        f"""SELECT prompt, version, count(*), count_if(kind='error'), count_if(kind='success'),
        avg(rating), count(suggestion), quantile_cont(latency_ms, 0.5),
        quantile_cont(latency_ms, 0.95), avg(prompt_tokens), min(ts), max(ts)
        FROM read_json('{spool}/**/*.jsonl', columns={{prompt: 'VARCHAR', version: 'VARCHAR',
          kind: 'VARCHAR', rating: 'DOUBLE', suggestion: 'VARCHAR', latency_ms: 'DOUBLE',
          prompt_tokens: 'BIGINT', ts: 'VARCHAR'}}) GROUP BY ALL"""
    ).fetchall()
    assert len(ref) == len(ours)
    for p, v, n, e, ok, rt, sg, p50, p95, pt, t0, t1 in ref:
        r = ours[(p, v)]
        assert (r["count"], r["errors"], r["successes"], r["suggestions"]) == (n, e, ok, sg)
        assert r["avg_rating"] == (None if rt is None else round(rt, 4))
        assert r["latency_p50_ms"] == (None if p50 is None else round(p50, 1))
        assert r["latency_p95_ms"] == (None if p95 is None else round(p95, 1))
        assert r["avg_prompt_tokens"] == (None if pt is None else round(pt, 1))
        assert (r["first_ts"], r["last_ts"]) == (t0, t1)


def test_since_is_exact(spool):
    for d in range(1, 4):
        _seed(spool, day=f"2026-11-0{d}")
    assert {r["prompt"]: r["count"] for r in fb.summarize(spool, since="2026-11-02").rows} == {
        "support/triage": 26, "billing": 2}  # fmt: skip
    # mid-day: the boundary day's shard is filtered record by record
    mid = fb.summarize(spool, "support/triage", since="2026-11-03T11:00:00Z").rows[0]
    assert mid["count"] == 3
    now = datetime(2026, 11, 3, 12, 30, tzinfo=UTC)
    assert fb.parse_since("90m", now) == "2026-11-03T11:00:00.000Z"
    listed = fb.list_feedback(spool, "support/triage", since="2026-11-03T11:00:00Z")
    assert listed.total_matched == 3


def test_prune_keeps_totals(repo):
    root = repo.root
    for d in range(1, 6):
        _seed(root, day=f"2026-11-0{d}")
    before = fb.summarize(root, by="version").rows
    rep = fb.prune(root, 2, now=datetime(2026, 11, 5, 9, tzinfo=UTC))
    assert rep.cutoff_day == "2026-11-03" and rep.records_removed == 28
    assert sorted(p.parent.name for p in (root / "feedback").rglob("*.jsonl")) == ["2026-11-03", "2026-11-03",
                                                                                  "2026-11-04", "2026-11-04",
                                                                                  "2026-11-05", "2026-11-05"]  # fmt: skip
    assert not (root / "feedback/support/triage/2026-11-01").exists()
    after = fb.summarize(root, by="version").rows
    assert after == before
    assert (
        fb.summarize(root, since="2026-11-03").rows[0]["count"] == 3
    )  # compacted days honour since
    # pruning again is a no-op for the totals
    fb.prune(root, 2, now=datetime(2026, 11, 5, 9, tzinfo=UTC))
    assert fb.summarize(root, by="version").rows == before


def test_commit_batches_feedback_into_one_commit(repo):
    import subprocess

    root = repo.root
    (root / "notes.txt").write_text("unrelated, must not be committed")
    _seed(root)
    res = fb.commit_feedback(root)
    assert res["records"] == 14 and len(res["files"]) == 2
    shown = subprocess.run(["git", "show", "--name-only", "--format=%s", "HEAD"], cwd=root,
                           capture_output=True, text=True).stdout.split()  # fmt: skip
    assert "notes.txt" not in shown and all(f in shown for f in res["files"])
    assert fb.commit_feedback(root)["commit"] is None
    status = subprocess.run(["git", "status", "--porcelain", "feedback"], cwd=root,
                            capture_output=True, text=True).stdout  # fmt: skip
    assert status == ""


def test_lost_aggregate_file_is_rebuilt_from_the_shards(spool):
    _seed(spool)
    expected = fb.summarize(spool).rows
    (spool / ".ptrain/cache/feedback/groups.parquet").unlink()
    fb.record(
        spool, {"prompt": "billing", "kind": "success", "ts": "2026-11-01T13:00:00Z"}, writer="w"
    )
    s = fb.summarize(spool)
    billing = {r["prompt"]: r for r in s.rows}["billing"]
    assert billing["count"] == 2 and s.stats.parsed == 2  # the lost cache is rebuilt
    assert {r["prompt"]: r for r in s.rows}["support/triage"] == {r["prompt"]: r for r in expected}[
        "support/triage"
    ]


def test_concurrent_summaries_in_one_process_keep_their_tables_apart(tmp_path):
    """Sessions share one in-memory DuckDB: each works in a schema of its own (its groups, the
    cache writer's second connection), dropped when it ends, so threads summarising different
    stores at once never read each other's tables."""
    from concurrent.futures import ThreadPoolExecutor

    from ptrain.feedback import shardscan

    roots = []
    for n in range(4):
        root = tmp_path / f"s{n}"
        for d in range(1, n + 2):
            _seed(root, day=f"2026-11-0{d}")
        roots.append(root)
    expected = [fb.summarize(r, use_cache=False).rows for r in roots]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):  # cold (the cache written by the second connection), then warm
            got = list(pool.map(lambda r: fb.summarize(r, by="prompt").rows, roots))
            assert got == expected
    counts = [{r["prompt"]: r["count"] for r in rows}["support/triage"] for rows in expected]
    assert counts == [13, 26, 39, 52]
    probe = shardscan.Session()
    try:
        left = probe.con.execute(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE $p",
            {"p": f"s{os.getpid()}_%"},
        ).fetchall()
    finally:
        probe.close()
    assert left == [(probe.schema,)]  # only the session that asked
