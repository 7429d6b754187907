"""Identical deploys (same version, same reason) and identical rollbacks started at the same
moment, 20 rounds each: one applies, the other fails cleanly, and no live record is ever lost.

Both processes are held just before ptrain's repository lock until the other got that far, so
both read the same live record and the race is certain (the old clean-up deleted the winner's
record in 6/10 such trials: two byte-identical tag objects share an id)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import git
from tests.reliability.conftest import assert_consistent
from tests.repo.test_concurrency import RACER

ROUNDS = 20


def _race(root, tmp_path, round_: int, *args: str) -> list[tuple[int, str, str]]:
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    fa, fb = tmp_path / f"a{round_}", tmp_path / f"b{round_}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(mine), str(other), *args],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mine, other in ((fa, fb), (fb, fa))
    ]
    return [(p.wait(timeout=60), *p.communicate()) for p in procs]


def _one_applied(results) -> None:
    assert sorted(code for code, _, _ in results) == [0, 1], results
    _, _, err = next(r for r in results if r[0] == 1)
    assert "at the same time" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err


def _chain_ok(repo, root) -> None:
    hist = repo.history("support/triage", "production")
    assert [h.seq for h in hist] == list(range(1, len(hist) + 1))
    assert len({h.id for h in hist if h.id}) == len([h for h in hist if h.id])  # unique records
    live = git(root, "rev-parse", "refs/tags/ptrain/support/triage@production").strip()
    assert live == git(root, "rev-parse", f"refs/tags/{hist[-1].tag}").strip()
    assert repo.get("support/triage").commit == hist[-1].to_commit
    records = git(root, "for-each-ref", "--format=%(refname)", "refs/tags/ptrain-deploy/").split()
    assert len(records) == len(hist)  # nothing dangling, nothing deleted


def test_identical_concurrent_deploys(rel_repo, tmp_path):
    repo, root = rel_repo, rel_repo.root
    for i in range(ROUNDS):
        target = "3" if repo.get("support/triage").version == 2 else "2"
        results = _race(
            root, tmp_path, i, "prompt", "deploy", "support/triage", target, "-m", "same"
        )
        _one_applied(results)
        assert str(repo.get("support/triage").version) == target
        _chain_ok(repo, root)
        # the version really runs: deploying it again is "already deployed", not a lie
        again = subprocess.run(
            [sys.executable, "-m", "ptrain", "prompt", "deploy", "support/triage", target],
            cwd=root, capture_output=True, text=True,
        )  # fmt: skip
        assert again.returncode == 1 and "already deployed" in again.stderr
    assert len(repo.history("support/triage", "production")) == ROUNDS + 1
    assert_consistent(root)


def test_identical_concurrent_rollbacks(rel_repo, tmp_path):
    repo, root = rel_repo, rel_repo.root
    for i in range(ROUNDS):
        before = repo.get("support/triage").version
        repo.deploy("support/triage", 3 if before != 3 else 2, reason="setup")
        results = _race(root, tmp_path, i, "prompt", "rollback", "support/triage", "-m", "same")
        _one_applied(results)
        assert repo.get("support/triage").version == before
        _chain_ok(repo, root)
    assert len(repo.history("support/triage", "production")) == 2 * ROUNDS + 1
    assert_consistent(root)
