"""A CSV without a version column files each record under the version deployed at its ts."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from ptrain import feedback as fb


def _shift(at: str, seconds: float) -> str:
    t = datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_csv_without_version_uses_the_deploy_records(repo, tmp_path):
    time.sleep(1.1)  # deploy records have second precision: keep the two deploys apart
    repo.deploy("support/triage", 2, "production")
    hist = repo.history("support/triage", "production")
    assert [h.to_version for h in hist] == [1, 2]
    t1, t2 = hist[0].at, hist[1].at
    v1, v2 = hist[0].to_commit, hist[1].to_commit
    src = tmp_path / "export.csv"
    src.write_text(
        "prompt,kind,rating,ts\n"
        f"support/triage,rating,0.1,{_shift(t1, 0.2)}\n"
        f"support/triage,rating,0.2,{_shift(t2, 0.5)}\n"
        f"support/triage,rating,0.3,{_shift(t2, 3600)}\n"
    )
    rep = fb.import_file(repo.root, src)
    assert rep.written == 3 and rep.versions_from_deploys == 3
    got = sorted(
        (r["rating"], r["version"], r["version_number"]) for r in fb.iter_feedback(repo.root)
    )
    assert got == [(0.1, v1, 1), (0.2, v2, 2), (0.3, v2, 2)]
    by_v = {r["version_number"]: r["count"] for r in fb.summarize(repo.root, by="version").rows}
    assert by_v == {1: 1, 2: 2}  # nothing under "unknown"


def test_staging_env_and_explicit_version_win(repo, tmp_path):
    repo.deploy("support/triage", 2, "staging")
    at = repo.history("support/triage", "staging")[0].at
    src = tmp_path / "e.csv"
    src.write_text(
        "prompt,kind,rating,ts,env,version\n"
        f"support/triage,rating,0.5,{_shift(at, 1)},staging,\n"
        f"support/triage,rating,0.6,{_shift(at, 1)},production,\n"
        f"support/triage,rating,0.7,{_shift(at, 1)},staging,{repo.versions('support/triage')[0].commit}\n"
    )
    fb.import_file(repo.root, src)
    nums = sorted((r["rating"], r.get("version_number")) for r in fb.iter_feedback(repo.root))
    assert nums == [(0.5, 2), (0.6, 1), (0.7, None)]  # the explicit sha is kept as given


def test_before_the_first_deploy_the_newest_committed_version_is_used(repo, tmp_path, fb_cli):
    cli = fb_cli
    """The one rule at a past time: the version deployed then, else the latest by then; a
    record older than the prompt itself stays unknown, and the import says so."""
    from ptrain.prompts import new_prompt_yaml

    repo.create("support/late", new_prompt_yaml("Summarise: {message}"))
    time.sleep(1.2)  # commit dates have second precision: keep the deploy a second later
    repo.deploy("support/late", 1, "production")
    (v1,) = repo.versions("support/late")
    first_deploy = repo.history("support/late", "production")[0].at
    src = tmp_path / "old.csv"
    src.write_text(
        "prompt,kind,rating,ts\n"
        "support/late,rating,0.1,2000-01-01T00:00:00Z\n"  # before the prompt existed
        f"support/late,rating,0.2,{_shift(v1.date, 0.1)}\n"  # v1 committed, none deployed
        f"support/late,rating,0.3,{_shift(first_deploy, 1)}\n"  # v1 deployed
    )
    r = cli.invoke("feedback", "import", str(src))
    assert r.exit_code == 0, r.stderr
    assert (
        "1 filed under the version deployed at their ts, 1 (before the first deploy)"
        in " ".join(r.stdout.split())
    )
    assert "1 record(s) older than their prompt's first version" in " ".join(r.stderr.split())
    got = sorted((r["rating"], r.get("version_number")) for r in fb.iter_feedback(repo.root))
    assert got == [(0.1, None), (0.2, 1), (0.3, 1)]
