"""`ptrain prompt validate` and the `ptrain-validate` pre-commit hook entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ptrain.storage.yamlio import load_safe
from tests.repo.conftest import triage

ROOT = Path(__file__).resolve().parents[2]


def _write(d: Path, files: dict[str, str]) -> list[str]:
    for rel, text in files.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    return [str(d / rel) for rel in files]


def test_validate_good_files_passes(prompt_repo, cli):
    paths = _write(prompt_repo.root, {"prompts/a.yaml": triage("a"), "prompts/b/c.yml": triage()})
    # as pre-commit calls the hook: the entry followed by the changed file names
    r = cli.run("prompt", "validate", *paths, "ptrain.yaml")
    assert r.exit_code == 0, r.stderr
    assert "3 file(s) OK" in r.stdout
    # with no paths: every prompt and ptrain.yaml of the repo
    r = cli.run("prompt", "validate", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == {"checked": 3, "problems": []}


def test_validate_bad_files_lists_each_problem_with_file_and_line(prompt_repo, cli):
    root = prompt_repo.root
    _write(
        root,
        {
            "prompts/ok.yaml": triage(),
            "prompts/typo.yaml": triage().replace("owner:", "ownr:"),
            "prompts/broken.yaml": "schema_version: 1\ntemplate: [\n",
            "prompts/temp.yaml": triage().replace("temperature: 0.0", "temperature: 7"),
        },
    )
    r = cli.run("prompt", "validate")
    assert r.exit_code == 1
    assert "Traceback" not in r.stderr
    problems = sorted(r.stderr.strip().splitlines())
    assert problems == [
        "✗ prompts/broken.yaml:3: invalid YAML: expected the node content, but found '<stream end>'",
        "✗ prompts/temp.yaml:18: model.temperature: Input should be less than or equal to 2",
        "✗ prompts/typo.yaml:5: unknown key 'ownr'; did you mean 'owner'?",
    ]
    # pre-commit passes only the staged files: a good one alone passes
    assert cli.run("prompt", "validate", "prompts/ok.yaml").exit_code == 0
    # a broken ptrain.yaml is reported too
    (root / "ptrain.yaml").write_text((root / "ptrain.yaml").read_text() + "colour: blue\n")
    r = cli.run("prompt", "validate", "ptrain.yaml")
    assert r.exit_code == 1 and "ptrain.yaml:" in r.stderr and "unknown key 'colour'" in r.stderr


def test_validate_outside_a_repo_with_paths(tmp_path, cli):
    (tmp_path / "x.yaml").write_text(triage())
    r = cli.run("prompt", "validate", str(tmp_path / "x.yaml"), cwd=tmp_path)
    assert r.exit_code == 0, r.stderr


def test_pre_commit_hook_definition():
    hooks = load_safe((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "ptrain-validate")
    assert hook["entry"] == "ptrain prompt validate"
    assert hook["language"] == "python"
    import re

    files = re.compile(hook["files"])
    assert files.search("prompts/support/triage.yaml")
    assert files.search("prompts/x.yml")
    assert files.search("ptrain.yaml")
    assert not files.search("feedback/x.jsonl")


@pytest.mark.skipif(not (ROOT / "example-repo").exists(), reason="example-repo not there yet")
def test_local_hook_validates_example_repo(cli):
    """Run the repo-local hook's entry the way pre-commit would: on the files it matches."""
    import re
    import shlex

    config = load_safe((ROOT / ".pre-commit-config.yaml").read_text())
    hook = next(h for r in config["repos"] if r["repo"] == "local" for h in r["hooks"])
    files = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "example-repo").rglob("*"))
        if re.search(hook["files"], str(p.relative_to(ROOT)))
    ]
    assert "example-repo/ptrain.yaml" in files and len(files) >= 4
    argv = shlex.split(hook["entry"])
    assert argv[0] == "ptrain"
    r = cli.run(*argv[1:], *files, cwd=ROOT)
    assert r.exit_code == 0, r.stderr
