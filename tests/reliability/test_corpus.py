"""The malformed-input corpus: every case exits != 0 with one line naming the problem, no
traceback, nothing written (refs, HEAD, index, status and files compared), within 10 s and
1 GiB of address space (RLIMIT_AS in the child, a timeout around it)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.conftest import TIME_LIMIT, run_limited
from tests.repo.conftest import snapshot, triage

LAUGHS = "".join(
    f"{c}: &{c} [{','.join(['*' + p] * 9) if p else ','.join(['lol'] * 9)}]\n"
    for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
assert len(LAUGHS) < 600  # the file was 553 bytes


def _file(tmp: Path, name: str, data: str | bytes) -> str:
    p = tmp / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(p)


def _config(root: Path, extra: str) -> None:
    """Replace a top-level setting of ptrain.yaml (the file is committed as is afterwards)."""
    path = root / "ptrain.yaml"
    key = extra.split(":", 1)[0]
    lines = [ln for ln in path.read_text().splitlines() if not ln.startswith(key + ":")]
    path.write_text("\n".join([extra, *lines]) + "\n")


Setup = Callable[[Path, Path], list[str]]

# id -> (setup returning the argv, words the one line must contain)
CASES: dict[str, tuple[Setup, list[str]]] = {
    # -- YAML ------------------------------------------------------------------------------
    "billion laughs (create)": (
        lambda r, t: ["prompt", "create", "lol", "--file", _file(t, "lol.yaml", LAUGHS)],
        ["too many nodes"],
    ),
    "billion laughs (validate)": (
        lambda r, t: ["prompt", "validate", _file(t, "lol.yaml", LAUGHS)],
        ["too many nodes"],
    ),
    "billion laughs (update)": (
        lambda r, t: ["prompt", "update", "support/triage", "--file", _file(t, "l.yaml", LAUGHS)],
        ["too many nodes"],
    ),
    "deep flow nesting": (
        lambda r, t: ["prompt", "create", "deep", "--file", _file(t, "d.yaml", "[" * 200_000)],
        ["nested too deeply"],
    ),
    "deep block nesting": (
        lambda r, t: [
            "prompt",
            "validate",
            _file(
                t, "b.yaml", "".join(" " * i + "k:\n" for i in range(0, 400, 2)) + " " * 400 + "x\n"
            ),
        ],
        ["nested too deeply"],
    ),
    "deep dash nesting": (
        lambda r, t: [
            "prompt",
            "create",
            "dash",
            "--file",
            _file(t, "s.yaml", "- " * 50_000 + "x\n"),
        ],
        ["nested too deeply"],
    ),
    "too large prompt file": (
        lambda r, t: [
            "prompt",
            "create",
            "big",
            "--file",
            _file(t, "big.yaml", triage("big") + "# " + "x" * (2 << 20) + "\n"),
        ],
        ["too large"],
    ),
    "invalid utf-8": (
        lambda r, t: [
            "prompt",
            "create",
            "bin",
            "--file",
            _file(t, "bin.yaml", b"\xff\xfe\x00bad"),
        ],
        ["bin.yaml"],
    ),
    "syntax error": (
        lambda r, t: ["prompt", "create", "syn", "--file", _file(t, "syn.yaml", "a: [b\nc: d\n")],
        ["invalid YAML"],
    ),
    # -- paths ------------------------------------------------------------------------------
    "validate /etc/passwd": (
        lambda r, t: ["prompt", "validate", "/etc/passwd"],
        ["not a YAML file"],
    ),
    "validate missing path": (
        lambda r, t: ["prompt", "validate", str(t / "nope.yaml")],
        ["does not exist"],
    ),
    "validate /dev/zero": (
        lambda r, t: ["prompt", "validate", "/dev/zero"],
        ["not a regular file"],
    ),
    "create from a directory": (
        lambda r, t: ["prompt", "create", "dir", "--file", str(t)],
        ["cannot read"],
    ),
    "prompt file is a symlink out of the repo": (
        lambda r, t: _symlink_prompt(r, t),
        ["symbolic link"],
    ),
    "prompts folder is a symlink": (lambda r, t: _symlink_folder(r, t), ["symbolic link"]),
    "validate a symlink": (
        lambda r, t: ["prompt", "validate", _link(t / "l.yaml", _file(t, "x.yaml", triage("x")))],
        ["symbolic link"],
    ),
    # -- names ------------------------------------------------------------------------------
    "300-character prompt name (show)": (
        lambda r, t: ["prompt", "show", "a" * 300],
        ["prompt name too long"],
    ),
    "300-character prompt name (create)": (
        lambda r, t: ["prompt", "create", "a" * 300, "--template", "Hi {x}"],
        ["prompt name too long"],
    ),
    "prompt name with ..": (
        lambda r, t: ["prompt", "create", "../evil", "--template", "Hi {x}"],
        ["invalid prompt name"],
    ),
    "upper-case prompt name": (lambda r, t: ["prompt", "show", "Support"], ["invalid prompt name"]),
    # -- env names -----------------------------------------------------------------------------
    "env with a slash": (
        lambda r, t: ["prompt", "deploy", "support/triage", "2", "--env", "../prod"],
        ["invalid env name"],
    ),
    "empty env": (
        lambda r, t: ["prompt", "deploy", "support/triage", "2", "--env", ""],
        ["invalid env name"],
    ),
    "300-character env": (
        lambda r, t: ["prompt", "deploy", "support/triage", "2", "--env", "e" * 300],
        ["env name too long"],
    ),
    "unknown env": (
        lambda r, t: ["prompt", "deploy", "support/triage", "2", "--env", "prod"],
        ["unknown env"],
    ),
    # -- config ----------------------------------------------------------------------------
    "envs: a string": (
        lambda r, t: _with_config(
            r, "envs: production", ["prompt", "deploy", "support/triage", "2", "--env", "p"]
        ),
        ["envs must be a non-empty list", "str"],
    ),
    "envs: 5": (
        lambda r, t: _with_config(r, "envs: 5", ["prompt", "deploy", "support/triage", "2"]),
        ["envs must be a non-empty list"],
    ),
    "envs with a bad name": (
        lambda r, t: _with_config(r, "envs: [prod, ../x]", ["prompt", "list"]),
        ["envs: invalid env name"],
    ),
    "prompts_dir: 5": (
        lambda r, t: _with_config(r, "prompts_dir: 5", ["prompt", "list"]),
        ["prompts_dir must be a folder name"],
    ),
    "prompts_dir outside": (
        lambda r, t: _with_config(
            r, "prompts_dir: ../elsewhere", ["prompt", "show", "support/triage"]
        ),
        ["prompts_dir must stay inside the repository"],
    ),
    "prompts_dir absolute": (
        lambda r, t: _with_config(r, "prompts_dir: /etc", ["prompt", "list"]),
        ["prompts_dir must be a path inside the repository"],
    ),
    "feedback_dir .git": (
        lambda r, t: _with_config(r, "feedback_dir: .git/x", ["prompt", "list"]),
        ["feedback_dir must stay inside the repository and out of .git"],
    ),
    "schema_version: 2": (
        lambda r, t: _with_config(r, "schema_version: 2", ["prompt", "show", "support/triage"]),
        ["schema_version 2 is not supported"],
    ),
    "schema_version: '1' (a string)": (
        lambda r, t: _with_config(r, "schema_version: '1'", ["prompt", "list"]),
        ["schema_version '1' is not supported"],
    ),
    "config is billion laughs": (
        lambda r, t: _replace_config(r, LAUGHS, ["prompt", "show", "support/triage"]),
        ["too many nodes"],
    ),
    "config is a list": (
        lambda r, t: _replace_config(r, "- a\n- b\n", ["prompt", "list"]),
        ["must be a mapping"],
    ),
}


def _link(link: Path, target: str) -> str:
    os.symlink(target, link)
    return str(link)


def _symlink_prompt(root: Path, tmp: Path) -> list[str]:
    outside = _file(tmp, "secret.yaml", triage("stolen"))
    path = root / "prompts/support/triage.yaml"
    path.unlink()
    os.symlink(outside, path)
    return ["prompt", "update", "support/triage"]


def _symlink_folder(root: Path, tmp: Path) -> list[str]:
    outside = tmp / "outside"
    outside.mkdir()
    os.symlink(outside, root / "prompts" / "ext")
    return ["prompt", "create", "ext/new", "--template", "Hi {x}"]


def _with_config(root: Path, line: str, argv: list[str]) -> list[str]:
    _config(root, line)
    return argv


def _replace_config(root: Path, text: str, argv: list[str]) -> list[str]:
    (root / "ptrain.yaml").write_text(text)
    return argv


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_input(rel_repo, tmp_path, case):
    setup, needles = CASES[case]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    argv = setup(rel_repo.root, inputs)
    before = snapshot(rel_repo.root)
    r = run_limited(rel_repo.root, *argv)
    assert r.code != 0, (r.out, r.err)
    assert "Traceback" not in r.err + r.out, r.err
    lines = [ln for ln in r.err.splitlines() if ln.strip()]
    assert len(lines) == 1, r.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert r.seconds < TIME_LIMIT
    assert snapshot(rel_repo.root) == before, "something was written"
