"""Console output rules: bars only on a terminal and one at a time, the libraries' own bars off,
and paths printed relative to the working directory."""

import io
import sys

from codemix.core.progress import progress, progress_shown, quiet_library_bars, shown


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _terminal(monkeypatch) -> Terminal:
    """stderr a terminal, CODEMIX_NO_PROGRESS unset. (Set inside the test: pytest puts its own
    capturing stderr back between a fixture's setup and the test.)"""
    monkeypatch.delenv("CODEMIX_NO_PROGRESS", raising=False)
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    return term


def test_bars_only_on_a_terminal(monkeypatch):
    _terminal(monkeypatch)
    assert progress_shown()
    monkeypatch.setenv("CODEMIX_NO_PROGRESS", "1")
    assert not progress_shown()
    monkeypatch.delenv("CODEMIX_NO_PROGRESS")
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a file or a pipe
    assert not progress_shown() and progress(range(3), desc="x").disable


def test_an_inner_bar_is_not_drawn_under_an_outer_one(monkeypatch):
    terminal = _terminal(monkeypatch)
    outer = progress(range(3), desc="loading sources")
    inner = progress(range(2), desc="decontam")
    assert not outer.disable and inner.disable
    list(inner)
    list(outer)
    outer.close()
    after = progress(range(2), desc="writing")
    assert not after.disable  # the next stage gets its bar again
    after.close()
    assert "loading sources" in terminal.getvalue() and "3/3" in terminal.getvalue()
    assert "decontam" not in terminal.getvalue()


def test_library_bars_are_off(monkeypatch):
    import huggingface_hub.utils
    from transformers.utils import logging as hf_logging

    previous = hf_logging.set_tqdm_hook(None)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    try:
        quiet_library_bars()
        assert hf_logging.tqdm(range(3), desc="Loading weights").disable  # transformers' own bars
        assert huggingface_hub.utils.are_progress_bars_disabled()  # downloads: off a terminal only
    finally:
        hf_logging.set_tqdm_hook(previous)


def test_paths_are_shown_relative_to_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert shown(tmp_path / "runs" / "sweep" / "cells") == "runs/sweep/cells"
    assert shown("runs/x") == "runs/x"
    assert shown("/elsewhere/runs") == "/elsewhere/runs"
