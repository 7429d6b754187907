"""Each bad input of issue 2 §10, through the real console script.

Every case must print one line on stderr naming the problem and the fix, exit non-zero, show no
traceback, and write nothing (refs, status, index and files unchanged).
"""

from __future__ import annotations

import pytest

from tests.conftest import git
from tests.repo.conftest import snapshot, triage

BAD_YAML = 'schema_version: 1\ntype: system\ninput_variables: [name\ntemplate: "Hi {name}"\n'
UNKNOWN_KEY = 'schema_version: 1\ntype: system\ninput_variables: [name]\ntemplat: "Hi {name}"\ntemplate: "Hi {name}"\n'
DISAGREE = 'schema_version: 1\ntype: system\ninput_variables: [name]\ntemplate: "Hi {nam}"\n'
UNUSED = 'schema_version: 1\ntype: system\ninput_variables: [name, tone]\ntemplate: "Hi {name}"\n'


def assert_clean_failure(result, *needles: str) -> None:
    assert result.exit_code != 0, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and " — " in lines[0], lines[0]  # problem — fix
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def deployed(triage_repo):
    triage_repo.deploy("support/triage", 2)
    return triage_repo


@pytest.fixture
def inputs(tmp_path):
    d = tmp_path / "inputs"
    d.mkdir()
    for name, text in {
        "bad.yaml": BAD_YAML,
        "unknown.yaml": UNKNOWN_KEY,
        "disagree.yaml": DISAGREE,
        "unused.yaml": UNUSED,
        "good.yaml": triage("new"),
    }.items():
        (d / name).write_text(text)
    return d


CASES = {
    "unknown prompt (show)": (
        ["prompt", "show", "nope"],
        ["no prompt named 'nope'", "prompt list"],
    ),
    "unknown prompt (deploy)": (["prompt", "deploy", "nope", "1"], ["no prompt named 'nope'"]),
    "unknown prompt (update)": (
        ["prompt", "update", "nope", "--file", "{inputs}/good.yaml"],
        ["no prompt named 'nope'", "ptrain prompt create nope"],
    ),
    "unknown version (number)": (
        ["prompt", "deploy", "support/triage", "9"],
        ["has no version 9 (it has 1..3)", "ptrain prompt versions support/triage"],
    ),
    "unknown version (sha)": (
        ["prompt", "show", "support/triage", "--version", "deadbeef"],
        ["has no version 'deadbeef'"],
    ),
    "unknown version (diff)": (["prompt", "diff", "support/triage", "1", "7"], ["no version 7"]),
    "unknown env (deploy)": (
        ["prompt", "deploy", "support/triage", "1", "--env", "prod"],
        ["unknown env 'prod'", "production, staging", "did you mean 'production'?"],
    ),
    "unknown env (rollback)": (
        ["prompt", "rollback", "support/triage", "--env", "qa"],
        ["unknown env 'qa'"],
    ),
    "unknown env (export)": (
        ["prompt", "export", "{inputs}/out", "--env", "qa"],
        ["unknown env 'qa'"],
    ),
    "not deployed to env": (
        ["prompt", "show", "support/triage", "--env", "staging"],
        ["not deployed to staging", "ptrain prompt deploy support/triage VERSION --env staging"],
    ),
    "rollback with nothing below": (
        ["prompt", "rollback", "support/triage"],
        ["no earlier deploy to roll back to"],
    ),
    "deploy what already runs": (
        ["prompt", "deploy", "support/triage", "2"],
        ["already deployed to production"],
    ),
    "invalid YAML (create)": (
        ["prompt", "create", "greet", "--file", "{inputs}/bad.yaml"],
        ["bad.yaml:4: invalid YAML"],
    ),
    "invalid YAML (update)": (
        ["prompt", "update", "support/triage", "--file", "{inputs}/bad.yaml"],
        ["bad.yaml:4: invalid YAML"],
    ),
    "unknown key": (
        ["prompt", "create", "greet", "--file", "{inputs}/unknown.yaml"],
        ["unknown.yaml:4: unknown key 'templat'"],
    ),
    "template uses an undeclared variable": (
        ["prompt", "create", "greet", "--file", "{inputs}/disagree.yaml"],
        ["disagree.yaml:", "{nam}", "add 'nam' to input_variables"],
    ),
    "declared variable unused": (
        ["prompt", "update", "support/triage", "--file", "{inputs}/unused.yaml"],
        ["unused.yaml:", "'tone'", "no template uses it"],
    ),
    "bad braces in --template": (
        ["prompt", "create", "greet", "--template", "Hi {name"],
        ["--template", "braces"],
    ),
    "missing --file": (
        ["prompt", "create", "greet", "--file", "{inputs}/missing.yaml"],
        ["missing.yaml does not exist"],
    ),
    "invalid prompt name": (
        ["prompt", "create", "Bad/Name", "--template", "hi"],
        ["invalid prompt name 'Bad/Name'"],
    ),
    "prompt already exists": (
        ["prompt", "create", "support/triage", "--template", "hi"],
        ["already exists", "ptrain prompt update support/triage"],
    ),
    "unchanged update": (
        ["prompt", "update", "support/triage", "--file", "{inputs}/same.yaml"],
        ["identical to its latest version"],
    ),
    "sync without a remote": (["sync"], ["no git remote named 'origin'"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(case, deployed, inputs, cli):
    args, needles = CASES[case]
    (inputs / "same.yaml").write_text(triage("v3"))
    root = deployed.root
    before = snapshot(root)
    result = cli.run(*[a.replace("{inputs}", str(inputs)) for a in args], cwd=root)
    assert_clean_failure(result, *needles)
    assert snapshot(root) == before
    assert not (inputs / "out").exists()


def test_not_a_prompt_repo(tmp_path, cli):
    plain = tmp_path / "plain"
    plain.mkdir()
    r = cli.run("prompt", "list", cwd=plain)
    assert_clean_failure(r, "not inside a git repository", "ptrain init")
    git(plain, "init", "-q")
    before = snapshot(plain)
    r = cli.run("prompt", "versions", "x", cwd=plain)
    assert_clean_failure(r, "not a prompt repo (no ptrain.yaml)", "ptrain init")
    r = cli.run("-C", str(tmp_path / "nowhere"), "prompt", "list")
    assert_clean_failure(r, "does not exist")
    assert snapshot(plain) == before


def test_update_over_uncommitted_edits_is_refused(deployed, inputs, cli):
    root = deployed.root
    path = root / "prompts/support/triage.yaml"
    path.write_text(path.read_text().replace("one word", "ONE WORD"))
    before = snapshot(root)
    r = cli.run("prompt", "update", "support/triage", "--file", str(inputs / "good.yaml"))
    assert_clean_failure(r, "uncommitted changes", "git checkout -- prompts/support/triage.yaml")
    assert snapshot(root) == before
    assert "ONE WORD" in path.read_text()
    # without --file the edit itself becomes the next version
    r = cli.run("prompt", "update", "support/triage", "-m", "shout")
    assert r.exit_code == 0, r.stderr
    assert deployed.versions("support/triage")[-1].message == "shout"


def test_detached_head_refuses_new_versions(deployed, inputs, cli):
    root = deployed.root
    git(root, "checkout", "-q", "--detach", "HEAD~1")
    before = snapshot(root)
    for args in (
        ["prompt", "update", "support/triage", "--file", str(inputs / "good.yaml")],
        ["prompt", "create", "greet", "--template", "Hi {name}"],
    ):
        assert_clean_failure(cli.run(*args), "HEAD is detached", "git switch")
        assert snapshot(root) == before


def test_shallow_clone_refuses_versions_and_deploys(deployed, tmp_path, cli):
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{deployed.root}", str(shallow))
    before = snapshot(shallow)
    for args in (
        ["prompt", "versions", "support/triage"],
        ["prompt", "deploy", "support/triage", "1"],
        ["prompt", "list"],
    ):
        r = cli.run(*args, cwd=shallow)
        assert_clean_failure(r, "shallow clone", "git fetch --unshallow")
        assert snapshot(shallow) == before


def test_usage_errors_exit_2_without_traceback(prompt_repo, cli):
    r = cli.run("prompt", "deploy")
    assert r.exit_code == 2 and "Traceback" not in r.stderr
