"""The shared CLI helpers: percentages, intervals, the stage progress bars."""

from __future__ import annotations

import io

from rich.console import Console

from ptrain.cli import common


def test_pct_and_interval():
    assert common.pct(None) == "-"
    assert common.pct(0.4567) == "45.7%"
    assert common.pct(1.0) == "100.0%"
    assert common.pct_interval(None) == ""
    assert common.pct_interval((0.4012, 0.5126)) == " [40.1, 51.3]"


def test_stage_progress_is_off_on_a_pipe_and_when_disabled(monkeypatch):
    pipe = Console(file=io.StringIO(), force_terminal=False)
    monkeypatch.setattr(common, "err_console", lambda: pipe)
    with common.stage_progress() as tick:
        assert tick is None
    terminal = Console(file=io.StringIO(), force_terminal=True)
    monkeypatch.setattr(common, "err_console", lambda: terminal)
    with common.stage_progress(enabled=False) as tick:
        assert tick is None


def test_stage_progress_draws_one_bar_per_stage_on_a_terminal(monkeypatch):
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=80)
    monkeypatch.setattr(common, "err_console", lambda: terminal)
    with common.stage_progress() as tick:
        assert tick is not None
        tick("evaluate", 0, 4)
        tick("evaluate", 4, 4)
        tick("judge", 1, 0)  # an unknown total still draws
    text = out.getvalue()
    assert "evaluate" in text and "4/4" in text and "judge" in text


def test_a_reader_closing_the_pipe_early_is_not_an_error(tmp_path):
    # `ptrain prompt show X | head -1` under `set -o pipefail` (the docs' scripts): the output
    # is larger than the pipe's buffer, so ptrain is still writing when head exits
    import subprocess

    from tests.conftest import PTRAIN_BIN

    shots = "".join(
        f"  - inputs: {{m: 'message number {i}'}}\n    output: label{i}\n" for i in range(3000)
    )
    (tmp_path / "big.yaml").write_text(
        f"schema_version: 1\ninput_variables: [m]\ntemplate: 'Label: {{m}}'\nexamples:\n{shots}"
    )
    script = (
        "set -e -o pipefail\n"
        f'"{PTRAIN_BIN}" init r >/dev/null\n'
        f'"{PTRAIN_BIN}" -C r prompt create big --file big.yaml -m big >/dev/null\n'
        f'"{PTRAIN_BIN}" -C r prompt show big | head -1\n'
    )
    p = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("# big v1") and not p.stderr
