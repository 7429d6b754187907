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
