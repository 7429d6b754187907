"""Append-only shards under real concurrency and real crashes (processes, SIGKILL)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ptrain import feedback as fb
from ptrain.storage import jsonl

PROCS, PER_PROC = 8, 2000


def _writer(spool: str, proc: int, n: int) -> None:
    w = fb.FeedbackWriter(spool, writer="shared")  # every process appends to the SAME shard
    for i in range(n):
        w.write([{"prompt": "support/triage", "kind": "success", "latency_ms": 1.0 + i,
                  "ts": "2026-11-01T12:00:00Z", "metadata": {"proc": proc, "i": i}}])  # fmt: skip


def test_concurrent_appends_lose_nothing(spool):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(spool), p, PER_PROC)) for p in range(PROCS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    shard = spool / "support/triage/2026-11-01/shared.jsonl"
    raw = shard.read_bytes()
    assert raw.endswith(b"\n")
    recs = [jsonl.loads(line) for line in raw.split(b"\n")[:-1]]  # every line parses
    assert len(recs) == PROCS * PER_PROC == 16_000
    assert len({r["id"] for r in recs}) == 16_000
    assert {(r["metadata"]["proc"], r["metadata"]["i"]) for r in recs} == {
        (p, i) for p in range(PROCS) for i in range(PER_PROC)
    }
    s = fb.summarize(spool)
    assert s.rows[0]["count"] == 16_000 and s.rows[0]["successes"] == 16_000 and not s.warnings


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from ptrain.storage import jsonl
    from ptrain.storage.jsonl import _open_locked
    lk = _open_locked(jsonl.Path(sys.argv[1]))      # hold the append lock, like a real writer
    os.write(lk.fd, b'{"schema_version":1,"id":"deadbeefdeadbeef","prompt":"support/tri')
    os.kill(os.getpid(), signal.SIGKILL)             # die mid-line, lock held
    """
)


def _good(i: int) -> dict:
    return {"prompt": "support/triage", "kind": "rating", "rating": 0.5, "ts": "2026-11-01T12:00:00Z",
            "message": f"record {i}"}  # fmt: skip


def test_writer_killed_mid_append_leaves_readers_working(spool):
    w = fb.FeedbackWriter(spool, writer="w1")
    w.write([_good(i) for i in range(3)])
    shard = spool / "support/triage/2026-11-01/w1.jsonl"
    p = subprocess.run([sys.executable, "-c", KILLER, str(shard)], timeout=60)
    assert p.returncode == -signal.SIGKILL
    assert not shard.read_bytes().endswith(b"\n")  # a torn tail is really there

    # readers work, see every complete record, and report the torn tail
    listed = fb.list_feedback(spool, "support/triage")
    assert [r["message"] for r in reversed(listed.records)] == ["record 0", "record 1", "record 2"]
    assert any("incomplete last line" in x for x in listed.warnings)
    s = fb.summarize(spool)
    assert s.rows[0]["count"] == 3 and any("incomplete last line" in x for x in s.warnings)

    # the dead writer's lock is gone, and the next append starts on a fresh line
    w.write([_good(3)])
    lines = shard.read_bytes().split(b"\n")
    assert lines[3].startswith(b'{"schema_version":1,"id":"deadbeef') and lines[4].startswith(b"{")
    assert jsonl.loads(lines[4])["message"] == "record 3" and lines[-1] == b""

    listed = fb.list_feedback(spool, "support/triage")
    assert len(listed.records) == 4
    assert listed.warnings == [
        "support/triage/2026-11-01/w1.jsonl:4: unparsable line (65 bytes) skipped (torn write?)"
    ]
    s = fb.summarize(spool)  # the cached summary moves past the torn line too
    assert s.rows[0]["count"] == 4 and s.stats.parsed == 1
    assert s.warnings == [
        "support/triage/2026-11-01/w1.jsonl:4: unparsable line (65 bytes) skipped (torn write?)"
    ]


def test_multi_shard_append_is_all_or_nothing(spool, monkeypatch):
    w = fb.FeedbackWriter(spool, writer="w1")
    w.write([_good(0)])
    before = {p: p.read_bytes() for p in spool.rglob("*.jsonl")}
    real_write = jsonl._write_all
    calls = []

    def failing(fd, data):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real_write(fd, data)

    monkeypatch.setattr(jsonl, "_write_all", failing)
    recs = [_good(1), {**_good(2), "ts": "2026-11-02T00:00:00Z"}, {**_good(3), "prompt": "other"}]
    with pytest.raises(OSError):
        w.write(recs)
    after = {p: p.read_bytes() for p in spool.rglob("*.jsonl") if p.stat().st_size}
    assert after == before  # the first shard's append was rolled back


def test_payload_must_be_complete_lines(tmp_path):
    with pytest.raises(ValueError):
        jsonl.append(tmp_path / "x.jsonl", b'{"a":1}')


def test_writer_id_is_stable_and_differs_by_branch(tmp_path, monkeypatch):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git/HEAD").write_text("ref: refs/heads/main\n")
    a = jsonl.writer_id(tmp_path)
    assert a == jsonl.writer_id(tmp_path)
    (tmp_path / ".git/HEAD").write_text("ref: refs/heads/feature\n")
    b = jsonl.writer_id(tmp_path)
    assert a != b and a.split("-")[0] == b.split("-")[0]  # same host part, other context
    monkeypatch.setenv("PTRAIN_WRITER_ID", "replica-7")
    assert jsonl.writer_id(tmp_path) == "replica-7"
    assert os.sep not in jsonl.writer_id(tmp_path)


def test_shard_layout(spool):
    fb.record(
        spool,
        {"prompt": "support/triage", "kind": "success", "ts": "2026-11-01T23:59:59Z"},
        writer="w",
    )
    fb.record(
        spool, {"prompt": "support", "kind": "success", "ts": "2026-11-02T00:00:00Z"}, writer="w"
    )
    got = sorted(p.relative_to(spool).as_posix() for p in spool.rglob("*.jsonl"))
    assert got == ["support/2026-11-02/w.jsonl", "support/triage/2026-11-01/w.jsonl"]
    # a prompt's shards do not include a nested prompt's
    assert [s.prompt for s in fb.shards(fb.open_store(spool), "support")] == ["support"]
    assert Path(spool / "support/triage").is_dir()
