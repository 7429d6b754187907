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
