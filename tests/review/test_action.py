"""``action.yml`` and the example workflows: actionlint (with the action's own metadata checked
through ``uses: ./``), the GitHub JSON schemas, and no expression pasted into a script."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ptrain.storage.yamlio import load_safe
from tests.conftest import git

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
WORKFLOWS = sorted((ROOT / "example-repo" / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return path


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # -shellcheck= / -pyflakes=: the result must not depend on what else the machine has
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def actionlint(cwd: Path, *files: str) -> subprocess.CompletedProcess:
    return run(tool("actionlint"), "-oneline", "-shellcheck=", "-pyflakes=", *files, cwd=cwd)


def test_the_example_has_the_three_workflows():
    assert [p.name for p in WORKFLOWS] == [
        "ptrain-deploy.yml",
        "ptrain-review.yml",
        "ptrain-train.yml",
    ]


def test_workflows_pass_actionlint_as_published(tmp_path):
    repo = tmp_path / "prompts"
    shutil.copytree(ROOT / "example-repo" / ".github", repo / ".github")
    git(tmp_path, "init", "-q", str(repo))
    p = actionlint(repo)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.fixture
def with_local_action(tmp_path) -> Path:
    """A repository with ``action.yml`` at its root and the workflows using it as ``./``, so
    actionlint checks every ``with:`` against the action's declared inputs."""
    repo = tmp_path / "ptrain-self"
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ACTION, repo / "action.yml")
    for wf in WORKFLOWS:
        text = wf.read_text()
        assert "uses: your-org/ptrain@" in text
        text = text.replace("uses: your-org/ptrain@v0.1.0", "uses: ./")
        (repo / ".github" / "workflows" / wf.name).write_text(text)
    git(tmp_path, "init", "-q", str(repo))
    return repo


def test_workflows_use_only_inputs_the_action_declares(with_local_action):
    p = actionlint(with_local_action)
    assert p.returncode == 0, p.stdout + p.stderr


def test_actionlint_catches_an_undeclared_input(with_local_action):
    wf = with_local_action / ".github" / "workflows" / "ptrain-review.yml"
    wf.write_text(wf.read_text().replace("command: review", "command: review\n          modle: x"))
    p = actionlint(with_local_action)
    assert p.returncode == 1 and 'input "modle" is not defined' in p.stdout


def test_the_actions_steps_pass_actionlint(tmp_path):
    """actionlint reads workflows, not action metadata: lint the composite steps as a job of a
    reusable workflow that declares the same inputs."""
    doc = load_safe(ACTION.read_text())
    assert doc["runs"]["using"] == "composite"
    inputs = {
        k: {"type": "string", "required": False, "default": str(v.get("default", ""))}
        for k, v in doc["inputs"].items()
    }
    wf = {
        "on": {"workflow_call": {"inputs": inputs}},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": doc["runs"]["steps"]}},
    }
    repo = tmp_path / "lint"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "action-steps.yml").write_text(json.dumps(wf, indent=2))
    git(tmp_path, "init", "-q", str(repo))
    p = actionlint(repo)
    assert p.returncode == 0, p.stdout + p.stderr


def test_action_and_workflows_match_the_github_schemas():
    cj = tool("check-jsonschema")
    p = run(cj, "--builtin-schema", "vendor.github-actions", str(ACTION), cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    p = run(cj, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS), cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr


def _run_scripts(doc: dict) -> list[str]:
    steps = list(doc.get("runs", {}).get("steps", []))
    for job in (doc.get("jobs") or {}).values():
        steps += job.get("steps", [])
    return [s["run"] for s in steps if "run" in s]


def test_no_expression_is_pasted_into_a_script():
    for path in [ACTION, *WORKFLOWS]:
        for script in _run_scripts(load_safe(path.read_text())):
            assert "${{" not in script, f"{path.name}: pass it through env: instead"


def test_action_inputs_and_steps():
    doc = load_safe(ACTION.read_text())
    assert set(doc["inputs"]) == {
        "command",
        "prompts",
        "approach",
        "budget",
        "task-model",
        "optimizer-model",
        "base-url",
        "push",
        "open-pr",
        "python-version",
        "working-directory",
    }
    uses = [s.get("uses", "") for s in doc["runs"]["steps"]]
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert any(u.startswith("actions/cache@") for u in uses)
    text = ACTION.read_text()
    assert '"$GITHUB_ACTION_PATH"' in text and "ptrain models pull" in text
    assert "~/.cache/ptrain" in text
    # secrets only ever come from the caller's environment
    assert "secrets." not in json.dumps(doc)  # comments aside: the action reads none itself


def test_workflow_permissions_history_and_concurrency():
    docs = {p.name: load_safe(p.read_text()) for p in WORKFLOWS}
    train, review, deploy = (
        docs["ptrain-train.yml"],
        docs["ptrain-review.yml"],
        docs["ptrain-deploy.yml"],
    )
    assert train["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert review["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert deploy["permissions"] == {"contents": "write"}
    assert "schedule" in train["on"] and "workflow_dispatch" in train["on"]
    assert review["on"]["pull_request"]["paths"] == ["prompts/**", "evals/**"]
    assert deploy["on"]["push"] == {"branches": ["main"], "paths": ["prompts/**"]}
    for doc in docs.values():
        assert "group" in doc["concurrency"]
        for job in doc["jobs"].values():
            checkout = next(
                s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout")
            )
            assert checkout["with"]["fetch-depth"] == 0 and checkout["with"]["fetch-tags"] is True


def test_training_fans_out_one_matrix_job_per_due_prompt():
    jobs = load_safe((ROOT / "example-repo/.github/workflows/ptrain-train.yml").read_text())["jobs"]
    (due_step,) = [s for s in jobs["due"]["steps"] if s.get("with", {}).get("command")]
    assert due_step["with"]["command"] == "train-due"
    assert jobs["due"]["outputs"]["prompts"] == f"${{{{ steps.{due_step['id']}.outputs.prompts }}}}"
    train = jobs["train"]
    assert train["needs"] == "due" and train["if"] == "needs.due.outputs.prompts != '[]'"
    assert train["strategy"]["matrix"] == {"prompt": "${{ fromJSON(needs.due.outputs.prompts) }}"}
    assert train["strategy"]["fail-fast"] is False
    assert 1 <= train["strategy"]["max-parallel"] <= 16
    (step,) = [s for s in train["steps"] if s.get("with", {}).get("command")]
    assert step["with"]["command"] == "train-auto"
    assert step["with"]["prompts"] == "${{ matrix.prompt }}"
    assert step["with"]["push"] == "true" and step["with"]["open-pr"] == "true"


def _run_step(tmp_path: Path, **inputs: str) -> subprocess.CompletedProcess:
    """The action's "Run ptrain" script under bash, with a stand-in `ptrain` that records its
    arguments and environment."""
    doc = load_safe(ACTION.read_text())
    step = next(s for s in doc["runs"]["steps"] if s.get("name") == "Run ptrain")
    stub = tmp_path / "bin" / "ptrain"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text(
        '#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$OUT/args"\necho \'["a/b"]\'\n'
        'printf "%s|%s\\n" "${PTRAIN_TASK_MODEL:-}" "${PTRAIN_TASK_BASE_URL:-}" > "$OUT/env"\n'
    )
    stub.chmod(0o755)
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    git(tmp_path, "init", "-q", str(repo))
    env = {
        "PATH": f"{stub.parent}:/usr/bin:/bin",
        "OUT": str(tmp_path),
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GITHUB_OUTPUT": str(tmp_path / "github_output"),
    }
    for key, default in doc["inputs"].items():
        value = inputs.get(key.replace("-", "_"), str(default.get("default", "")))
        env[f"PTRAIN_INPUT_{key.upper().replace('-', '_')}"] = value
    return subprocess.run(
        ["bash", "-c", step["run"]], cwd=repo, env=env, capture_output=True, text=True
    )


def test_the_run_step_builds_the_command_from_inputs(tmp_path):
    p = _run_step(
        tmp_path,
        prompts="support/route, assistant/intent",
        approach="few_shot",
        budget="calls=50",
        task_model="openai:gpt-4o-mini",
        base_url="http://127.0.0.1:1/v1",
    )
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "args").read_text().split("\n")[:-1] == [
        "train",
        "auto",
        "--approach",
        "few_shot",
        "--prompt",
        "support/route",
        "--prompt",
        "assistant/intent",
        "--budget",
        "calls=50",
        "--push",
        "--open-pr",
    ]
    assert (tmp_path / "env").read_text().strip() == "openai:gpt-4o-mini|http://127.0.0.1:1/v1"
    # a bot identity when the workflow did not set one
    assert (
        git(tmp_path / "repo", "config", "user.email")
        .strip()
        .endswith("[bot]@users.noreply.github.com")
    )


def test_the_run_step_review_deploy_and_a_bad_command(tmp_path):
    assert _run_step(tmp_path, command="review").returncode == 0
    assert (tmp_path / "args").read_text().split() == ["review"]
    assert _run_step(tmp_path, command="deploy-merged", push="false").returncode == 0
    assert (tmp_path / "args").read_text().split() == ["deploy-merged"]
    # an input with shell syntax stays data
    p = _run_step(tmp_path, command="review; touch pwned")
    assert p.returncode == 2 and "unknown command" in p.stdout
    assert not (tmp_path / "repo" / "pwned").exists()


def test_the_run_step_lists_the_due_prompts_as_an_output(tmp_path):
    p = _run_step(tmp_path, command="train-due", prompts="support/route, assistant/intent")
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "args").read_text().split() == [
        "train", "due", "--names", "--limit", "256",
        "--prompt", "support/route", "--prompt", "assistant/intent",
    ]  # fmt: skip
    assert (tmp_path / "github_output").read_text() == 'prompts=["a/b"]\n'
