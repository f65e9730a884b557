"""What training says on the console: one line with the counts of truncated and dropped rows
(instead of transformers' "Token indices sequence length is longer ..."), "resuming from
checkpoint-N" when it continues a run (instead of "missing keys ... lm_head.weight", which tied
embeddings always raise), and the wall time of all sessions next to the resumed session's."""

import logging

import pytest

from codemix.finetune.resume import ELAPSED_FILE, KnownHarmlessWarnings, wall_time_text
from helpers.finetune import interrupt_after_save, pyfunc_rows, run_train, tiny_config, write_mixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


@pytest.fixture
def transformers_records():
    """Every record transformers' loggers pass on (after their own filters)."""
    handler = Records()
    logger = logging.getLogger("transformers")
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    return write_mixture(tmp_path_factory.mktemp("mix"), pyfunc_rows(200, seed=0))


def test_a_resumed_run_says_so_and_reports_the_time_of_every_session(mixture, tmp_path, capsys,
                                                                       transformers_records):
    # max_length 50: the rows are 47-53 tokens, so some are cut (the line says how many)
    cfg = tiny_config(max_steps=4, save_steps=2, max_length=50)
    out = tmp_path / "train"
    with pytest.raises(KeyboardInterrupt):
        run_train(cfg, mixture, out, seed=3, callbacks=[interrupt_after_save(2)])
    first = capsys.readouterr().out
    assert "rows longer than train.max_length=50 tokens were truncated" in first and "of 200 rows" in first
    assert (out / "checkpoints" / "checkpoint-2" / ELAPSED_FILE).is_file()
    manifest, built = run_train(cfg, mixture, out, seed=3)
    second = capsys.readouterr().out
    assert built and "[train] resuming from checkpoint-2 (step 2 of 4)" in second
    assert not [m for m in transformers_records if "missing keys" in m or "mtime may not be reliable" in m], \
        transformers_records
    assert manifest["resumed_from_step"] == 2
    assert manifest["wall_s_total"] > manifest["wall_s"] and manifest["train_s_total"] > manifest["train_s"]
    text = wall_time_text(manifest)
    assert text.startswith(f"{manifest['wall_s_total']:.1f} s in all, {manifest['wall_s']:.1f} s in the session")
    assert "resumed at step 2" in text


def test_only_tied_parameters_are_forgiven_as_missing():
    quiet = KnownHarmlessWarnings({"lm_head.weight"})

    def passes(message: str) -> bool:
        return quiet.filter(logging.LogRecord("transformers.trainer", logging.WARNING, "", 0, message, None, None))

    assert not passes("There were missing keys in the checkpoint model loaded: ['lm_head.weight'].")
    assert not passes("There were missing keys in the checkpoint model loaded: ['base_model.model.lm_head.weight'].")
    assert passes("There were missing keys in the checkpoint model loaded: ['lm_head.weight', 'model.norm.weight'].")
    assert passes("There were unexpected keys in the checkpoint model loaded: ['lm_head.weight'].")
    assert wall_time_text({"wall_s": 12.0, "resumed_from_step": None}) == "12.0 s"


def test_overlength_rows_are_counted_in_one_line_without_the_tokenizer_warning(mixture, transformers_records):
    from codemix.finetune.data import load_rows, tokenize_mixture
    from codemix.finetune.prompts import resolve_prompt_format
    from codemix.finetune.tokenizer import build_tokenizer, mixture_texts

    rows = load_rows(mixture)
    # model_max_length below the rows' length: what makes transformers warn on a plain tokenizer call
    tokenizer = build_tokenizer("bpe", mixture_texts(rows), 400, model_max_length=40)
    fmt = resolve_prompt_format("auto", tokenizer, None)
    data = tokenize_mixture(rows, tokenizer, fmt, None, max_length=36, on_overlength="truncate")
    assert data.truncated == 200 and 0 < data.dropped < 200  # prompts are 33-38 tokens
    line = data.overlength_line(36)
    assert line == (f"[train] 200 of 200 rows longer than train.max_length=36 tokens were truncated, {data.dropped} "
                    f"dropped (the prompt alone fills max_length: no completion token left); first truncated: "
                    f"{', '.join(data.examples[:3])}")
    assert not [m for m in transformers_records if "Token indices sequence length" in m]
    assert tokenize_mixture(rows, tokenizer, fmt, None, 512, "truncate").overlength_line(512) is None


def test_the_loss_curve_is_drawn_on_a_log_axis():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from codemix.finetune.checkpoint import draw_losses

    fig, (log_ax, linear_ax) = plt.subplots(1, 2)
    draw_losses(log_ax, [{"step": s, "loss": 6.0 / s} for s in range(1, 400)], "t")
    draw_losses(linear_ax, [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.0}], "t")
    assert log_ax.get_yscale() == "log" and "log scale" in log_ax.get_ylabel()
    assert linear_ax.get_yscale() == "linear" and "log" not in linear_ax.get_ylabel()
    plt.close(fig)
