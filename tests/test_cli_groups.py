"""Every command group is reachable through the lazy root, as a group with its subcommands."""

from __future__ import annotations

import pytest

from ptrain.cli.main import GROUPS

EXPECTED = {
    "prompt": "deploy",
    "feedback": "summary",
    "evaluate": "version",
    "evals": "from-feedback",
    "train": "status",
    "ab": "start",
    "models": "pull",
    "mcp": "serve",
}


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_group_help_lists_its_commands(cli, group):
    r = cli.invoke(group, "--help")
    assert r.exit_code == 0, r.stdout + r.stderr
    assert "Commands:" in r.stdout and EXPECTED[group] in r.stdout
    assert "--install-completion" not in r.stdout


def test_root_help_lists_groups_without_building_them():
    import subprocess
    import sys

    code = (
        "import sys; from ptrain.cli.main import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED', [m for m in ('ptrain.cli.ab', 'ptrain.cli.evaluate') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert all(g in out for g in GROUPS)
    assert "LOADED []" in out


def test_single_command_group_keeps_its_subcommand(cli):
    r = cli.invoke("evaluate", "version", "--help")
    assert r.exit_code == 0 and "--baseline" in r.stdout
