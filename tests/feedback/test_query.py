"""`ptrain feedback query "SQL"`: DuckDB over a read-only `feedback` table."""

from __future__ import annotations

import csv
import io
import json

import pytest

from ptrain import feedback as fb
from tests.feedback.crash import run_limited

V1 = "a" * 40


@pytest.fixture
def seeded(repo):
    recs = [
        {
            "prompt": "support/triage",
            "kind": "success",
            "latency_ms": 100.0 * (i + 1),
            "version": V1,
            "ts": f"2026-11-0{1 + i % 3}T10:00:{i:02d}Z",
            "inputs": {"message": f"hi {i}"},
        }
        for i in range(9)
    ]
    recs.append({"prompt": "support/triage", "kind": "rating", "rating": 0.25, "message": "meh",
                 "ts": "2026-11-02T11:00:00Z"})  # fmt: skip
    fb.record_many(repo.root, recs, writer="w")
    return repo


def test_query_json_and_csv(seeded, fb_cli):
    r = fb_cli.invoke(
        "feedback",
        "query",
        "SELECT kind, count(*) AS n FROM feedback GROUP BY kind ORDER BY kind",
        "--json",
    )
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["columns"] == ["kind", "n"] and doc["rows"] == [
        {"kind": "rating", "n": 1},
        {"kind": "success", "n": 9},
    ]
    r = fb_cli.invoke("feedback", "query", "SELECT inputs->>'message' AS m, latency_ms FROM feedback "
                      "WHERE kind = 'success' ORDER BY latency_ms DESC LIMIT 2", "--csv")  # fmt: skip
    assert list(csv.reader(io.StringIO(r.stdout))) == [
        ["m", "latency_ms"],
        ["hi 8", "900.0"],
        ["hi 7", "800.0"],
    ]
    r = fb_cli.invoke(
        "feedback", "query", "SELECT quantile_cont(latency_ms, 0.5) AS p50 FROM feedback"
    )
    assert r.exit_code == 0 and "500.0" in r.stdout


def test_query_matches_the_summary(seeded):
    s = fb.summarize(seeded.root).rows[0]
    q = fb.query(
        seeded.root, "SELECT count(*), avg(rating), quantile_cont(latency_ms, 0.95) FROM feedback"
    )
    n, avg, p95 = q.rows[0]
    assert (n, avg, round(p95, 1)) == (s["count"], s["avg_rating"], s["latency_p95_ms"])


REFUSED = {
    "INSERT INTO feedback (kind) VALUES ('x')": "INSERT statements are refused",
    "UPDATE feedback SET rating = 1": "UPDATE statements are refused",
    "DELETE FROM feedback": "DELETE statements are refused",
    "DROP TABLE feedback": "DROP statements are refused",
    "CREATE TABLE t AS SELECT 1": "CREATE statements are refused",
    "COPY feedback TO '/tmp/out.csv'": "COPY statements are refused",
    "ATTACH '/tmp/x.db'": "ATTACH statements are refused",
    "INSTALL httpfs": "LOAD statements are refused",
    "LOAD httpfs": "LOAD statements are refused",
    "PRAGMA database_list": "PRAGMA statements are refused",
    "SET enable_external_access = true": "SET statements are refused",
    "SELECT 1; DROP TABLE feedback": "one statement; got 2",
    "SELECT 1; SELECT 2": "one statement; got 2",
    "SELECT * FROM read_csv('/etc/passwd')": "query failed",
    "SELECT * FROM read_text('/etc/passwd')": "query failed",
    "SELECT * FROM '/etc/passwd'": "query failed",
    "SELECT * FROM glob('/*')": "query failed",
    "SELECT * FROM read_json('feedback/**/*.jsonl')": "query failed",
    "SELECT * FROM read_parquet('/tmp/x.parquet')": "query failed",
    "SELEC 1": "bad SQL",
    "SELECT FROM WHERE": "bad SQL",
    "SELECT nope FROM feedback": "query failed",
}


@pytest.mark.parametrize("sql", sorted(REFUSED))
def test_query_refuses_writes_files_and_bad_sql_with_one_line(seeded, sql):
    p = run_limited(["feedback", "query", sql], seeded.root)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and REFUSED[sql] in lines[0], p.stderr
    assert p.stdout == ""


def test_query_skips_and_reports_torn_and_bad_lines(seeded):
    shard = seeded.root / "feedback/support/triage/2026-11-01/w.jsonl"
    with open(shard, "ab") as f:
        f.write(b'{"not": "a record"}\n{"schema_version":1,"id":"deadbeef01","ts":"2026-11-01T12:0')
    q = fb.query(seeded.root, "SELECT count(*) FROM feedback")
    assert q.rows == [(10,)]
    assert any("w.jsonl:4: not a valid feedback record" in w for w in q.warnings)
    assert any("incomplete last line" in w for w in q.warnings)


def test_query_on_an_empty_repo(repo):
    assert fb.query(repo.root, "SELECT count(*) FROM feedback").rows == [(0,)]
