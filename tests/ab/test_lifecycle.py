"""start -> get(unit_id) -> feedback -> report -> stop --winner -> deploy -> rollback, through the
CLI on real repos; experiments travel through a bare remote; bad input changes nothing."""

from __future__ import annotations

import json
import random

import pytest

from ptrain import PromptRepo, ab
from ptrain.feedback import FeedbackWriter
from tests.conftest import git
from tests.repo.conftest import snapshot

NAME = "support/triage"


def _traffic(repo: PromptRepo, rates: dict[str, float], units: int, seed: int = 3) -> None:
    """Serve ``units`` users through get(unit_id) and record what each call did, as an app
    would: a success or an error per call, and a rating from every fifth user."""
    rng = random.Random(seed)
    recs = []
    for i in range(units):
        p = repo.get(NAME, unit_id=f"user-{i}")
        base = {
            "prompt": NAME,
            "version": p.commit,
            "version_number": p.version,
            "env": p.env,
            "variant": p.variant,
        }
        ok = rng.random() < rates[p.variant]
        recs.append(
            {**base, "kind": "success"}
            if ok
            else {**base, "kind": "error", "error_type": "bad_label"}
        )
        if i % 5 == 0:
            recs.append({**base, "kind": "rating", "rating": 0.8 if ok else 0.2})
    FeedbackWriter(repo.root).write(recs)


def test_full_lifecycle_through_the_cli(repo, cli, tmp_path):
    r = cli.invoke("ab", "start", NAME, "--variant", "A=1", "--variant", "B=2", "--mde", "0.1",
                   "-m", "shorter prompt", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    exp = json.loads(r.stdout)
    assert (exp["status"], exp["split"], exp["sample_size"]) == ("running", "50/50", 388)
    # the experiment is an annotated tag readable with plain git
    shown = git(repo.root, "tag", "-n40", "-l", "ptrain-ab/*")
    assert f"id: {exp['id']}" in shown and "status: running" in shown

    # an app records feedback for the LoadedPrompt it got; the variant comes along
    p = repo.get(NAME, unit_id="user-0")
    rec = repo.record_feedback(p, "success", latency_ms=12.0)
    assert rec.variant == p.variant and rec.version == p.commit

    _traffic(repo, {"A": 0.45, "B": 0.65}, units=1000)
    r = cli.invoke("ab", "status", NAME, "--json")
    arms = {a["variant"]: a for a in json.loads(r.stdout)["arms"]}
    assert arms["A"]["outcomes"] > 388 and arms["B"]["outcomes"] > 388

    md = tmp_path / "ab.md"
    r = cli.invoke("ab", "report", NAME, "--json", "--report", str(md))
    assert r.exit_code == 0, r.stderr
    rep = json.loads(r.stdout)
    assert (rep["verdict"]["label"], rep["verdict"]["winner"]) == ("B wins", "B")
    a, b = rep["arms"]
    assert a["success_rate"] < b["success_rate"] and a["error_rate"] > b["error_rate"]
    assert a["success_ci"][0] < a["success_rate"] < a["success_ci"][1]
    assert b["ratings"] > 0 and b["rating_ci"][0] < b["mean_rating"] < b["rating_ci"][1]
    assert b["prob_best"] > 0.99 and a["prob_best"] < 0.01
    assert "**Verdict: B wins**" in md.read_text()
    r = cli.invoke("ab", "report", NAME)
    assert "Verdict: B wins" in r.stdout
    # another metric than the pre-registered one: replanned for the worst case, said so
    rating = ab.report(repo, NAME, metric="rating")
    assert rating.verdict.horizon == 388 and "not the pre-registered" in rating.notes[0]
    assert rating.verdict.label == "keep running"  # ~100 ratings per variant so far

    r = cli.invoke("ab", "stop", NAME, "--winner", "B", "-m", "B answers better")
    assert r.exit_code == 0, r.stderr
    assert repo.deployed(NAME, "production").number == 2
    last = repo.history(NAME, "production")[-1]
    assert (last.from_version, last.to_version) == (1, 2) and exp["id"] in last.reason
    # units now all get the deployed winner, without a variant
    assert {(repo.get(NAME, unit_id=f"user-{i}").version, repo.get(NAME, unit_id=f"user-{i}").variant)
            for i in range(30)} == {(2, None)}  # fmt: skip
    stopped = ab.current(repo, NAME, "production")
    assert (stopped.status, stopped.winner, stopped.seq) == ("stopped", "B", 2)

    # records written after the stop (a straggler still holding variant B) do not count
    before = ab.report(repo, NAME).arms[1].records
    late = {"prompt": NAME, "kind": "error", "error_type": "x", "env": "production"}
    FeedbackWriter(repo.root).write(
        [{**late, "variant": "B", "version": stopped.variants[1].commit}]
    )
    assert ab.report(repo, NAME).arms[1].records == before

    r = cli.invoke("prompt", "rollback", NAME, "-m", "undo the A/B winner")
    assert r.exit_code == 0, r.stderr
    assert repo.get(NAME).version == 1


def test_stop_without_winner_keeps_the_deploy_and_winner_already_live_needs_no_deploy(repo):
    ab.start(repo, NAME, ["A=1", "B=3"])
    res = ab.stop(repo, NAME, winner="A")
    assert res.deploy is None and res.experiment.winner == "A"
    assert len(repo.history(NAME, "production")) == 1
    ab.start(repo, NAME, ["A=1", "B=3"], split="90/10")
    assert ab.stop(repo, NAME).deploy is None
    assert repo.deployed(NAME, "production").number == 1


def test_a_failed_winner_deploy_leaves_the_experiment_running(repo, monkeypatch):
    from ptrain.errors import ConcurrentUpdate

    exp = ab.start(repo, NAME, ["A=1", "B=2"])
    before = snapshot(repo.root)

    def racing_deploy(*a, **kw):
        raise ConcurrentUpdate("another deploy happened", "re-run")

    monkeypatch.setattr(repo, "deploy", racing_deploy)
    with pytest.raises(ConcurrentUpdate):
        ab.stop(repo, NAME, winner="B")
    assert snapshot(repo.root)["refs"] == before["refs"]
    assert ab.current(repo, NAME, "production").status == "running"
    assert ab.current(repo, NAME, "production").tag == exp.tag


@pytest.fixture
def clones(repo, tmp_path):
    """(first clone, bare remote, second clone), v1 deployed and synced."""
    from ptrain.sync import sync

    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo.root, "remote", "add", "origin", str(bare))
    git(repo.root, "push", "-q", "origin", "HEAD:refs/heads/main")
    git(bare, "symbolic-ref", "HEAD", "refs/heads/main")
    sync(repo.git, "origin")
    git(tmp_path, "clone", "-q", f"file://{bare}", "second")
    return repo, bare, PromptRepo(tmp_path / "second")


def test_experiment_travels_with_sync_and_clone(clones, cli, tmp_path):
    first, bare, second = clones
    # variant B is a candidate on an unpushed review branch: the anchor commit carries it
    head = first.git.head_commit()
    cand = first.git.commit_on_branch(
        head, {"prompts/support/triage.yaml": b"schema_version: 1\ntype: system\n"
               b"input_variables: [message]\ntemplate: 'candidate: {message}'\n"},
        "candidate", "review/candidate",
    )  # fmt: skip
    r = cli.invoke("ab", "start", NAME, "--variant", "A=1", "--variant", f"B={cand}")
    assert r.exit_code == 0, r.stderr
    assert cli.run("sync", cwd=first.root).exit_code == 0
    assert ab.current(second, NAME, "production") is None  # not there until it syncs

    r = cli.run("sync", cwd=second.root)
    assert r.exit_code == 0, r.stderr
    units = [f"user-{i}" for i in range(100)]
    mine = {u: first.get(NAME, unit_id=u) for u in units}
    theirs = {u: second.get(NAME, unit_id=u) for u in units}
    assert {u: (p.variant, p.commit) for u, p in mine.items()} == {
        u: (p.variant, p.commit) for u, p in theirs.items()
    }
    b = next(p for p in theirs.values() if p.variant == "B")
    assert b.format(message="hi") == "candidate: hi" and b.commit == cand

    # a fresh clone gets the experiment tag (and the candidate commit) with plain git
    git(tmp_path, "clone", "-q", f"file://{bare}", "third")
    third = PromptRepo(tmp_path / "third")
    assert all(third.get(NAME, unit_id=u).commit == theirs[u].commit for u in units)

    # stopping in the second clone reaches the first through sync
    ab.stop(second, NAME)
    assert cli.run("sync", cwd=second.root).exit_code == 0
    assert cli.run("sync", cwd=first.root).exit_code == 0
    assert ab.current(first, NAME, "production").status == "stopped"
    assert first.get(NAME, unit_id="user-1").variant is None


def test_same_experiment_changed_in_two_clones_is_a_conflict_not_a_flip(clones, cli):
    first, _, second = clones
    ab.start(first, NAME, ["A=1", "B=2"])
    ab.start(second, NAME, ["A=1", "B=3"])
    assert cli.run("sync", cwd=first.root).exit_code == 0
    refs = git(second.root, "for-each-ref", "refs/tags")
    r = cli.run("sync", cwd=second.root)
    assert "changed both here and on origin" in _one_error_line(r)
    assert git(second.root, "for-each-ref", "refs/tags") == refs
    # the hint works: drop ours, take theirs
    git(second.root, "tag", "-d", f"ptrain-ab/{NAME}@production")
    assert cli.run("sync", cwd=second.root).exit_code == 0
    assert ab.current(second, NAME, "production").tag == ab.current(first, NAME, "production").tag


def _one_error_line(r) -> str:
    assert r.exit_code == 1, (r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    assert "Traceback" not in r.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["start", NAME, "--variant", "A=1", "--variant", "B=7"], "no version 7"),
        (["start", NAME, "--variant", "A=1", "--variant", "B=2", "--split", "60/30"], "sums to 90"),
        (
            ["start", NAME, "--variant", "A=1", "--variant", "B=2", "--split", "50/25/25"],
            "one whole",
        ),
        (["start", NAME, "--variant", "A=1"], "at least two"),
        (["start", NAME, "--variant", "A=1", "--variant", "A=2"], "given twice"),
        (["start", NAME, "--variant", "A1", "--variant", "B=2"], "NAME=VERSION"),
        (["start", NAME, "--variant", "A=1", "--variant", "B=2", "--env", "qa"], "unknown env"),
        (["start", "nope", "--variant", "A=1", "--variant", "B=2"], "no prompt named"),
        (["stop", NAME], "no A/B experiment"),
        (["report", NAME], "no A/B experiment"),
        (["status", NAME], "no A/B experiment"),
    ],
)
def test_bad_input_is_one_line_exit_1_and_writes_nothing(repo, cli, args, needle):
    before = snapshot(repo.root)
    assert needle in _one_error_line(cli.invoke("ab", *args))
    assert snapshot(repo.root) == before


def test_refusals_while_running_leave_the_experiment_as_it_was(repo, cli):
    ab.start(repo, NAME, ["A=1", "B=2"])
    before = snapshot(repo.root)
    r = cli.run("ab", "start", NAME, "--variant", "A=1", "--variant", "B=3")  # the real script
    assert "already running" in _one_error_line(r)
    assert "unknown metric" in _one_error_line(cli.invoke("ab", "report", NAME, "--metric", "x"))
    assert "no variant 'C'" in _one_error_line(cli.invoke("ab", "stop", NAME, "--winner", "C"))
    assert snapshot(repo.root) == before
    assert cli.invoke("ab", "stop", NAME).exit_code == 0
    assert "already stopped" in _one_error_line(cli.invoke("ab", "stop", NAME))
