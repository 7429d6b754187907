"""The feedback commands end to end: parse, one service call, render; errors are one line."""

from __future__ import annotations

import json
import subprocess
import sys

from ptrain import feedback as fb


def _files(root):
    return {p: p.read_bytes() for p in (root / "feedback").rglob("*.jsonl")}


def test_add_defaults_to_the_deployed_version(repo, fb_cli):
    r = fb_cli.invoke(
        "feedback", "add", "support/triage", "--rating", "0.8", "--message", "good", "--json"
    )
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    v1 = repo.resolve("support/triage", 1)
    assert rec["version"] == v1.commit and rec["version_number"] == 1 and rec["kind"] == "rating"

    r = fb_cli.invoke("feedback", "add", "support/triage", "--error", "RateLimitError: 429 from provider",
                      "--version", "2", "--metric", "latency_ms=123", "--metric", "cost_usd=0.01", "--json")  # fmt: skip
    rec = json.loads(r.stdout)
    assert (rec["kind"], rec["error_type"], rec["error_message"]) == (
        "error",
        "RateLimitError",
        "429 from provider",
    )
    assert (
        rec["version_number"] == 2
        and rec["latency_ms"] == 123.0
        and rec["metrics"] == {"cost_usd": 0.01}
    )

    r = fb_cli.invoke(
        "feedback", "add", "support/triage", "--error", "it said nothing useful", "--json"
    )
    assert json.loads(r.stdout)["error_message"] == "it said nothing useful"
    r = fb_cli.invoke("feedback", "add", "support/triage", "--suggestion", "Ask for the order id")
    assert r.exit_code == 0 and "Recorded suggestion" in r.stdout

    r = fb_cli.invoke("feedback", "summary", "--by", "version", "--json")
    rows = {row["version_number"]: row for row in json.loads(r.stdout)["rows"]}
    assert rows[1]["count"] == 3 and rows[1]["suggestions"] == 1 and rows[2]["errors"] == 1
    r = fb_cli.invoke("feedback", "summary")
    assert r.exit_code == 0 and "support/triage" in r.stdout

    r = fb_cli.invoke("feedback", "list", "support/triage", "--kind", "error", "--json")
    assert [x["kind"] for x in json.loads(r.stdout)["records"]] == ["error", "error"]
    r = fb_cli.invoke("feedback", "list", "support/triage", "--version", "v2", "--json")
    assert json.loads(r.stdout)["total"] == 1
    r = fb_cli.invoke("feedback", "list", "support/triage")
    assert r.exit_code == 0 and "Ask for the" in r.stdout


def test_errors_are_one_line_non_zero_and_write_nothing(repo, fb_cli):
    fb_cli.invoke("feedback", "add", "support/triage", "--rating", "0.5")
    before = _files(repo.root)
    for args, needle in [
        (["add", "support/triage", "--rating", "1.5"], "rating"),
        (["add", "support/triage"], "nothing to record"),
        (["add", "nope/missing", "--rating", "0.5"], "nope/missing"),
        (["add", "support/triage", "--rating", "0.5", "--version", "9"], "no version 9"),
        (["add", "support/triage", "--metric", "latency_ms=fast"], "not a number"),
        (["add", "support/triage", "--rating", "0.5", "--env", "moon"], "moon"),
        (["list", "support/triage", "--kind", "bogus"], "unknown kind"),
        (["summary", "--by", "colour"], "cannot summarise by"),
        (["summary", "--since", "yesterday-ish"], "--since"),
        (["import", str(repo.root / "missing.jsonl")], "cannot read"),
    ]:
        r = fb_cli.invoke("feedback", *args)
        assert r.exit_code == 1, (args, r.stdout, r.stderr)
        assert needle in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert _files(repo.root) == before


def test_import_command_reports_lines_and_exit_codes(repo, fb_cli, tmp_path):
    src = tmp_path / "logs.jsonl"
    src.write_text('{"kind": "rating", "rating": 0.7}\n{"kind": "rating"}\n')
    r = fb_cli.invoke(
        "feedback", "import", str(src), "--prompt", "support/triage", "--version", "1", "--json"
    )
    assert r.exit_code == 0
    rep = json.loads(r.stdout)
    assert rep["written"] == 1 and rep["rejected"] == [
        {"line": 2, "reason": "a 'rating' record needs rating (0.0-1.0)"}
    ]
    (rec,) = fb.list_feedback(repo.root, "support/triage").records
    assert rec["version"] == repo.resolve("support/triage", 1).commit

    bad = tmp_path / "bad.jsonl"
    bad.write_text("{oops\n")
    before = _files(repo.root)
    r = fb_cli.invoke("feedback", "import", str(bad), "--prompt", "support/triage")
    assert r.exit_code == 1 and "nothing written" in r.stderr and "line 1" in r.stderr
    assert _files(repo.root) == before


def test_prune_and_commit_commands(repo, fb_cli):
    fb.record(
        repo.root, {"prompt": "support/triage", "kind": "success", "ts": "2020-01-01T00:00:00Z"}
    )
    fb.record(repo.root, {"prompt": "support/triage", "kind": "success"})
    r = fb_cli.invoke("feedback", "commit", "--json")
    assert json.loads(r.stdout)["records"] == 2
    r = fb_cli.invoke("feedback", "prune", "--json")  # retention_days (90) from ptrain.yaml
    assert json.loads(r.stdout)["records_removed"] == 1
    r = fb_cli.invoke("feedback", "commit", "-m", "feedback: prune", "--json")
    res = json.loads(r.stdout)
    assert "feedback/_compacted.parquet" in res["files"] and any(
        f.startswith("feedback/support") for f in res["files"]
    )
    r = fb_cli.invoke("feedback", "summary", "--json")
    assert json.loads(r.stdout)["rows"][0]["count"] == 2


def test_cli_module_does_not_import_langchain():
    code = "import sys, ptrain.cli.feedback, ptrain.feedback; print(sorted(m for m in sys.modules " \
           "if m.split('.')[0] in ('langchain_core', 'langchain', 'faiss', 'xllamacpp', 'git')))"  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
