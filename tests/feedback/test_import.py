"""Imports of production logs: exact per-line report, all valid lines in one append, or nothing."""

from __future__ import annotations

from ptrain import feedback as fb
from ptrain.storage import jsonl

GOOD = '{"prompt": "support/triage", "kind": "rating", "rating": 0.9, "ts": "2026-11-01T10:00:00Z"}'


def _all_records(root) -> list[dict]:
    return list(fb.iter_feedback(root))


def _files(root) -> dict:
    return {p: p.read_bytes() for p in root.rglob("*.jsonl")}


def test_import_with_bad_lines_reports_exactly_and_keeps_good_lines(spool, tmp_path):
    src = tmp_path / "export.jsonl"
    src.write_text(
        "\n".join(
            [
                GOOD,  # 1
                '{"prompt": "support/triage", "kind": "rating", "rating": 1.7}',  # 2
                "{not json",  # 3
                "",  # 4 (blank: ignored)
                '{"prompt": "support/triage", "kind": "error", "error_message": "timeout",'
                ' "ts": "2026-11-02T08:00:00Z"}',  # 5
                "[1, 2]",  # 6
                '{"prompt": "support/triage", "kind": "success", "latency": 5}',  # 7
                '{"kind": "success"}',  # 8 (no prompt and no default)
            ]
        )
        + "\n"
    )
    report = fb.import_file(spool, src, writer="imp")
    assert report.accepted == 2 and report.written == 2
    assert [(r.line, r.reason) for r in report.rejected] == [
        (2, "rating: Input should be less than or equal to 1"),
        (3, "invalid JSON at column 2"),
        (6, "expected a JSON object"),
        (7, "unknown field 'latency'"),
        (8, "missing required field 'prompt'"),
    ]
    recs = _all_records(spool)
    assert sorted(r["kind"] for r in recs) == ["error", "rating"]
    # new shards named after the writer and the import id: a rename never replaces a shard
    assert report.shards == [
        f"support/triage/2026-11-01/imp-{report.import_id}.jsonl",
        f"support/triage/2026-11-02/imp-{report.import_id}.jsonl",
    ]


def test_fully_invalid_file_writes_nothing(spool, tmp_path):
    fb.record(spool, {"prompt": "support/triage", "kind": "success"}, writer="w")
    before = _files(spool)
    src = tmp_path / "bad.jsonl"
    src.write_text('{"prompt": "x", "kind": "rating"}\nnope\n')
    report = fb.import_file(spool, src)
    assert report.accepted == 0 and report.written == 0 and len(report.rejected) == 2
    assert _files(spool) == before


def test_dry_run_writes_nothing(spool, tmp_path):
    src = tmp_path / "ok.jsonl"
    src.write_text(GOOD + "\n" + GOOD)  # a last line without newline is still a line of a file
    report = fb.import_file(spool, src, dry_run=True)
    assert report.accepted == 2 and report.written == 0 and report.dry_run
    assert _files(spool) == {}


def test_csv_import_with_defaults(spool, tmp_path):
    src = tmp_path / "export.csv"
    src.write_text(
        "ts,kind,rating,latency_ms,message,inputs\n"
        '2026-11-01T10:00:00Z,rating,0.25,120.5,"too long, and rude","{""message"": ""hi""}"\n'
        "2026-11-01T10:01:00Z,rating,high,,,\n"
        "2026-11-01T10:02:00Z,success,,80,,\n"
    )
    report = fb.import_file(spool, src, defaults={"prompt": "support/triage", "env": "production"})
    assert [(r.line, r.reason) for r in report.rejected] == [
        (3, "rating: could not convert string to float: 'high'")
    ]
    recs = sorted(_all_records(spool), key=lambda r: r["ts"])
    assert [r["kind"] for r in recs] == ["rating", "success"]
    assert recs[0]["message"] == "too long, and rude" and recs[0]["inputs"] == {"message": "hi"}
    assert recs[0]["env"] == "production" and recs[1]["latency_ms"] == 80.0


def test_spool_is_drained_once(repo, spool):
    app = fb.FeedbackWriter(spool, writer="app-host-1")
    app.write(
        [{"prompt": "support/triage", "kind": "success", "latency_ms": 10.0} for _ in range(5)]
    )
    # a crashed app left a torn tail in its spool shard
    shard = next(spool.rglob("*.jsonl"))
    with open(shard, "ab") as f:
        f.write(b'{"schema_version":1,"prom')
    report = fb.import_spool(repo.root, spool)
    assert report.written == 5 and any("incomplete last line" in w for w in report.warnings)
    assert not list(spool.rglob("*.jsonl"))  # drained
    target = repo.root / "feedback" / shard.relative_to(spool)
    assert len(jsonl.read_complete(target).data.splitlines()) == 5
    # records already in the repo are not imported twice (a job that crashed before draining)
    again = fb.FeedbackWriter(spool, writer="app-host-1")
    again.write([jsonl.loads(line) for line in target.read_bytes().splitlines()[:2]])
    report = fb.import_spool(repo.root, spool)
    assert report.accepted == 2 and report.duplicates == 2 and report.written == 0
    assert fb.summarize(repo.root).rows[0]["count"] == 5
