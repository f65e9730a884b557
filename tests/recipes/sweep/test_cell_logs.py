"""A sweep's cells share one process (the local launcher runs them in-process on CPU): each
cell's output, library warnings included, must land in that cell's log.txt. Libraries create their
logging handler once, on the sys.stderr of that moment; created during the first cell it used to
keep writing to that cell's closed log, and a warning in the third cell came out as
"--- Logging error --- ValueError: I/O operation on closed file" and a traceback."""

import logging

import pytest

from codemix.recipes.sweep.cell import tee_to_log


@pytest.fixture
def fresh_transformers_handler():
    """transformers' handler, created anew on first use (as in a new sweep process), and dropped
    again afterwards so later tests get one on their own stderr."""
    from transformers.utils import logging as hf_logging

    hf_logging._reset_library_root_logger()
    yield hf_logging
    hf_logging._reset_library_root_logger()


def test_three_cells_each_log_their_own_library_warnings(tmp_path, capsys, fresh_transformers_handler):
    hf_logging = fresh_transformers_handler
    library = logging.getLogger("codemix-test-library")
    library.propagate = False
    try:
        for i in range(3):
            with tee_to_log(tmp_path / f"cell{i}.log", quiet=True):
                if i == 0:  # a library sets up its handler during the first cell
                    library.addHandler(logging.StreamHandler())
                hf_logging.get_logger("transformers.modeling_utils").warning(f"transformers warning in cell {i}")
                library.warning(f"library warning in cell {i}")
                print(f"printed in cell {i}")
    finally:
        for h in list(library.handlers):
            library.removeHandler(h)
    for i in range(3):
        log = (tmp_path / f"cell{i}.log").read_text()
        assert f"transformers warning in cell {i}" in log, (i, log)
        assert f"library warning in cell {i}" in log and f"printed in cell {i}" in log
        assert not any(f"cell {j}" in log for j in range(3) if j != i), (i, log)
        assert "Logging error" not in log and "closed file" not in log
    err = capsys.readouterr().err
    assert "Logging error" not in err and "closed file" not in err
    # outside the cells the handlers write to the process's stderr again
    hf_logging.get_logger("transformers.modeling_utils").warning("after the sweep")
    assert "after the sweep" in capsys.readouterr().err


def test_progress_bar_redraws_reach_the_terminal_but_not_the_log(tmp_path, capsys):
    import sys

    with tee_to_log(tmp_path / "cell.log", quiet=False):
        sys.stderr.write("\rstep 1/2")
        sys.stderr.write("\rstep 2/2")
        sys.stderr.write("\n")
        print("[train] trained")
    log = (tmp_path / "cell.log").read_text()
    assert "step" not in log and "[train] trained\n" in log
    captured = capsys.readouterr()
    assert "\rstep 2/2" in captured.err and "[train] trained" in captured.out
