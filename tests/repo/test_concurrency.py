"""Two deploys at the same time: one wins, the other fails cleanly, tags and records agree."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tests.conftest import PTRAIN_BIN, git

# Runs the real CLI in its own process, but holds each deploy just before it takes the repo lock
# until the other process has got that far too, so both read the same "current" deploy and the
# race is certain, not a matter of timing.
RACER = textwrap.dedent(
    """
    import contextlib, os, sys, time
    from pathlib import Path
    import ptrain.storage.git as g

    mine, other = Path(sys.argv[1]), Path(sys.argv[2])
    real_lock = g.Git.lock

    @contextlib.contextmanager
    def lock(self, *a, **kw):
        mine.touch()
        deadline = time.monotonic() + 20
        while not other.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        with real_lock(self, *a, **kw):
            yield

    g.Git.lock = lock
    sys.argv = ["ptrain", *sys.argv[3:]]
    from ptrain.cli.main import run
    run()
    """
)


def _race(root, tmp_path, round_: int, a: str, b: str):
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    fa, fb = tmp_path / f"a{round_}", tmp_path / f"b{round_}"
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(mine), str(other), "prompt", "deploy"]
            + ["support/triage", version, "--reason", f"racer {version}"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mine, other, version in ((fa, fb, a), (fb, fa, b))
    ]
    return [(p.wait(timeout=60), *p.communicate()) for p in procs]


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_deploys_one_wins(triage_repo, tmp_path, round_):
    repo = triage_repo
    root = repo.root
    repo.deploy("support/triage", 1)
    results = _race(root, tmp_path, round_, "2", "3")

    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    winner = next(r for r in results if r[0] == 0)
    loser = next(r for r in results if r[0] == 1)
    assert "at the same time" in loser[2] and "was not applied" in loser[2]
    assert len(loser[2].strip().splitlines()) == 1 and "Traceback" not in loser[2]
    won_version = 2 if "v1 → v2" in winner[1] else 3
    assert f"v1 → v{won_version}" in winner[1]

    # the moving tag, the records and the history all tell the same story
    hist = repo.history("support/triage", "production")
    assert [(h.seq, h.from_version, h.to_version) for h in hist] == [
        (1, None, 1),
        (2, 1, won_version),
    ]
    assert hist[-1].reason == f"racer {won_version}"
    records = git(root, "tag", "-l", "ptrain-deploy/*").split()
    assert records == [
        "ptrain-deploy/support/triage@production/000001",
        "ptrain-deploy/support/triage@production/000002",
    ]
    tag = git(root, "rev-parse", "ptrain/support/triage@production").strip()
    assert tag == git(root, "rev-parse", records[-1]).strip()
    assert repo.get("support/triage").version == won_version
    # the repo is usable afterwards: the loser can simply re-run
    repo.deploy("support/triage", 5 - won_version)
    assert repo.rollback("support/triage").to_version == won_version
    assert git(root, "status", "--porcelain") == ""


def test_unsynchronised_real_processes_stay_consistent(triage_repo):
    """Without the hold: whatever the interleaving, no record is lost or left dangling."""
    root = triage_repo.root
    triage_repo.deploy("support/triage", 1)
    for _ in range(3):
        procs = [
            subprocess.Popen(
                [PTRAIN_BIN, "prompt", "deploy", "support/triage", v],
                cwd=root,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for v in ("2", "3")
        ]
        results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
        for code, _, err in results:
            assert code == 0 or ("at the same time" in err or "already deployed" in err), err
            assert "Traceback" not in err
        hist = triage_repo.history("support/triage", "production")
        assert [h.seq for h in hist] == list(range(1, len(hist) + 1))
        # every record but the first continues from the one before it
        for prev, rec in zip(hist, hist[1:], strict=False):
            assert rec.from_commit == prev.to_commit
        tag = git(root, "rev-parse", "ptrain/support/triage@production").strip()
        assert tag == git(root, "rev-parse", f"refs/tags/{hist[-1].tag}").strip()
