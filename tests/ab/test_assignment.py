"""Sticky assignment: same unit -> same variant everywhere; the split holds over 100,000 units."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from ptrain import PromptRepo, ab
from ptrain.errors import VersionNotFound

NAME = "support/triage"


def test_hash_is_pinned():
    # blake2b of "id:unit"; a change here would silently move every user to another variant
    assert ab.bucket("5e0c1f2a9b7d", "user-1") == pytest.approx(0.3062874822879456)
    assert ab.assign("5e0c1f2a9b7d", "user-1", [50, 50]) == 0
    assert ab.assign("5e0c1f2a9b7d", "user-1", [30, 70]) == 1


@pytest.mark.parametrize(
    "weights", [[50, 50], [90, 10], [34, 33, 33]], ids=["50/50", "90/10", "34/33/33"]
)
def test_split_within_one_point_over_100k_units_through_get(repo, weights):
    arms = [f"{chr(65 + i)}={i + 1}" for i in range(len(weights))]
    exp = ab.start(repo, NAME, arms, split="/".join(map(str, weights)))
    n = 100_000
    seen = Counter(repo.get(NAME, unit_id=f"user-{i}").variant for i in range(n))
    for i, w in enumerate(weights):
        assert abs(seen[chr(65 + i)] / n - w / 100) <= 0.01, (seen, weights)
    # the runtime and the pure function agree unit by unit
    for i in range(2000):
        v = repo.get(NAME, unit_id=f"user-{i}")
        assert v.variant == chr(65 + ab.assign(exp.id, f"user-{i}", weights))


def test_sticky_across_calls_instances_and_processes(repo):
    ab.start(repo, NAME, ["A=1", "B=3"])
    units = [f"session-{i}" for i in range(200)]
    first = {u: repo.get(NAME, unit_id=u) for u in units}
    assert {p.variant for p in first.values()} == {"A", "B"}
    for u, p in first.items():
        again = repo.get(NAME, unit_id=u)
        assert (again.variant, again.version, again.commit) == (p.variant, p.version, p.commit)
        assert p.version == (1 if p.variant == "A" else 3)
        assert ("v3" in p.format(message="x")) == (p.variant == "B")
    other = PromptRepo(repo.root)
    assert all(other.get(NAME, unit_id=u).variant == first[u].variant for u in units)
    code = (
        "import json, sys; from ptrain import PromptRepo; r = PromptRepo(sys.argv[1]); "
        "print(json.dumps({u: r.get('support/triage', unit_id=u).variant for u in sys.argv[2:]}))"
    )
    p = subprocess.run(
        [sys.executable, "-c", code, str(repo.root), *units], capture_output=True, text=True
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {u: first[u].variant for u in units}


def test_without_unit_or_experiment_get_is_the_deploy(repo):
    plain = repo.get(NAME, unit_id="u1")
    assert (plain.version, plain.variant) == (1, None)
    ab.start(repo, NAME, ["A=1", "B=2"])
    assert (repo.get(NAME).version, repo.get(NAME).variant) == (1, None)
    assert repo.get(NAME, version=3, unit_id="u1").version == 3  # an explicit version wins
    with pytest.raises(VersionNotFound):  # the experiment is per env; staging has no deploy
        repo.get(NAME, env="staging", unit_id="u1")
    ab.stop(repo, NAME)
    # a stop is seen by the same (warm) instance on its next call
    assert {repo.get(NAME, unit_id=f"u{i}").variant for i in range(50)} == {None}


def test_a_new_experiment_reshuffles_units(repo):
    ab.start(repo, NAME, ["A=1", "B=2"])
    before = {f"u{i}": repo.get(NAME, unit_id=f"u{i}").variant for i in range(2000)}
    ab.stop(repo, NAME)
    ab.start(repo, NAME, ["A=1", "B=2"])
    after = {u: repo.get(NAME, unit_id=u).variant for u in before}
    moved = sum(before[u] != after[u] for u in before) / len(before)
    assert 0.4 < moved < 0.6  # independent of the last experiment, so no carry-over


def test_feedback_carries_the_variant(repo):
    from ptrain import feedback

    ab.start(repo, NAME, ["A=1", "B=2"])
    p = next(
        repo.get(NAME, unit_id=f"u{i}")
        for i in range(100)
        if repo.get(NAME, unit_id=f"u{i}").variant == "B"
    )
    rec = repo.record_feedback(p, "rating", rating=0.9)
    assert (rec.variant, rec.version, rec.version_number, rec.env) == (
        "B",
        p.commit,
        2,
        "production",
    )
    pytest.importorskip("langchain_core")
    from ptrain.llm.feedback_callback import PtrainFeedbackCallback

    h = PtrainFeedbackCallback.for_prompt(repo.root, p)
    assert h.base["variant"] == "B" and h.base["version"] == p.commit
    rows = feedback.summarize(repo.root, NAME, by="variant").rows
    assert [(r["variant"], r["ratings"]) for r in rows] == [("B", 1)]


def test_packed_refs_are_read_and_a_loose_ref_wins_over_a_stale_packed_one(repo):
    from tests.conftest import git

    exp = ab.start(repo, NAME, ["A=1", "B=2"])
    git(repo.root, "pack-refs", "--all")  # as in a fresh clone: the experiment tag is packed
    fresh = PromptRepo(repo.root)
    assert {fresh.get(NAME, unit_id=f"u{i}").variant for i in range(40)} == {"A", "B"}
    ab.stop(repo, NAME)  # a loose ref now shadows the packed (running) value
    assert {fresh.get(NAME, unit_id=f"u{i}").variant for i in range(40)} == {None}
    git(repo.root, "pack-refs", "--all")
    assert {PromptRepo(repo.root).get(NAME, unit_id=f"u{i}").variant for i in range(40)} == {None}
    assert ab.current(repo, NAME).tag != exp.tag


def test_runtime_get_with_a_unit_does_not_import_the_ab_service(repo):
    """repo.get(unit_id=...) goes through ptrain.ab.model only: no service, statistics or
    feedback store on the runtime path (they cost ~60 ms to import)."""
    ab.start(repo, NAME, ["A=1", "B=2"])
    code = (
        "import sys; from ptrain import PromptRepo; "
        "p = PromptRepo(sys.argv[1]).get('support/triage', unit_id='user-1'); "
        "assert p.variant in ('A', 'B'); "
        "print(sorted(m for m in sys.modules if m.startswith(('ptrain.ab', 'ptrain.feedback'))))"
    )
    p = subprocess.run([sys.executable, "-c", code, str(repo.root)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout.replace("'", '"')) == ["ptrain.ab", "ptrain.ab.model"]
