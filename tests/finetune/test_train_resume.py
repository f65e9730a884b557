"""Training under faults: a kill right after the last checkpoint, a damaged newest
checkpoint, a damaged finished checkpoint, the train lock, and the thread choice in the manifest."""

import hashlib

import pytest

from codemix.core.errors import CodemixError
from codemix.core.locks import LockHeld, locked
from helpers.finetune import interrupt_after_save, pyfunc_rows, run_train, tiny_config, write_mixture

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mixture(tmp_path_factory):
    return write_mixture(tmp_path_factory.mktemp("mix"), pyfunc_rows(200, seed=0))


@pytest.fixture(scope="module")
def straight(mixture, tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "train"
    manifest, _ = run_train(tiny_config(max_steps=10, save_steps=5), mixture, out, seed=3)
    return manifest, out


def _weights(out):
    return hashlib.sha256((out / "model" / "model.safetensors").read_bytes()).hexdigest()


def test_kill_after_the_last_checkpoint_gives_the_uninterrupted_manifest(mixture, straight, tmp_path):
    reference, ref_out = straight
    out = tmp_path / "train"
    with pytest.raises(KeyboardInterrupt):
        run_train(tiny_config(max_steps=10, save_steps=5), mixture, out, seed=3, callbacks=[interrupt_after_save(10)])
    assert (out / "checkpoints" / "checkpoint-10").is_dir() and not (out / "manifest.json").exists()
    resumed, built = run_train(tiny_config(max_steps=10, save_steps=5), mixture, out, seed=3)
    assert built and resumed["resumed_from_step"] == 10
    # Before: steps 11 of 10, an extra loss entry, a different final loss and token count.
    for key in ("losses", "steps", "tokens", "final_loss", "epochs"):
        assert resumed[key] == reference[key], key
    assert _weights(out) == _weights(ref_out)


def test_damaged_newest_checkpoint_falls_back_to_the_previous(mixture, straight, tmp_path, capsys):
    reference, ref_out = straight
    out = tmp_path / "train"
    with pytest.raises(KeyboardInterrupt):
        run_train(tiny_config(max_steps=10, save_steps=5), mixture, out, seed=3, callbacks=[interrupt_after_save(10)])
    newest = out / "checkpoints" / "checkpoint-10" / "model.safetensors"
    with open(newest, "r+b") as f:
        f.truncate(newest.stat().st_size // 2)
    resumed, _ = run_train(tiny_config(max_steps=10, save_steps=5), mixture, out, seed=3)
    err = capsys.readouterr().err
    assert "checkpoint-10 is damaged" in err and "checkpoint-5" in err and "model.safetensors" in err
    assert resumed["resumed_from_step"] == 5 and resumed["losses"] == reference["losses"]
    assert _weights(out) == _weights(ref_out)


def test_no_good_checkpoint_is_a_clear_error(mixture, tmp_path):
    out = tmp_path / "train"
    cfg = tiny_config(max_steps=10, save_steps=5)
    with pytest.raises(KeyboardInterrupt):
        run_train(cfg, mixture, out, seed=3, callbacks=[interrupt_after_save(5)])
    (out / "checkpoints" / "checkpoint-5" / "optimizer.pt").write_bytes(b"PK\x03\x04 cut")
    with pytest.raises(CodemixError, match=r"checkpoint-5 is damaged \(optimizer.pt.*--force"):
        run_train(cfg, mixture, out, seed=3)
    m, _ = run_train(cfg, mixture, out, seed=3, force=True)
    assert m["steps"] == 10 and m["resumed_from_step"] is None


def test_damaged_finished_checkpoint_is_not_up_to_date(mixture, tmp_path, capsys):
    out = tmp_path / "train"
    cfg = tiny_config(max_steps=4)
    first, _ = run_train(cfg, mixture, out, seed=3)
    weights = out / "model" / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    again, built = run_train(cfg, mixture, out, seed=3)
    assert built and "damaged" in capsys.readouterr().err
    assert weights.read_bytes() == good and again["losses"] == first["losses"]
    assert "model/model.safetensors" in again["outputs"] and ".lock" not in again["files"]
    # the manifest records the thread choice it trained with
    threads = again["topology"]["cpu_threads"]
    assert threads["intra_op_threads"] == 1 and threads["affinity"] >= 1


def test_a_locked_train_dir_stops_a_second_trainer(mixture, tmp_path):
    import multiprocessing

    out = tmp_path / "train"
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()

    def hold():
        with locked(out, what="codemix train"):
            ready.set()
            release.wait(60)

    holder = ctx.Process(target=hold)
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(LockHeld, match=f"pid {holder.pid}"):
            run_train(tiny_config(max_steps=2), mixture, out, seed=3)
        assert not (out / "checkpoints").exists(), "the second trainer must not touch the directory"
    finally:
        release.set()
        holder.join(30)
