"""`train()`: fine-tune a causal LM on a mixture with trl's SFTTrainer and write the checkpoint
described in `codemix.finetune.checkpoint` (manifest last).

Order of work, so a bad input fails before anything is loaded or written:
  1. up-to-date check (inputs hash = train section + seed + the mixture's content_hash);
  2. environment checks (CUDA/bitsandbytes for qlora, fp16 on CPU, wandb, scheduler name);
  3. model source, mixture rows, tokenizer, prompt format, tokenization (over-long rows),
     model config and LoRA target modules (on a weightless meta copy);
  4. only then: the old manifest is removed, `checkpoints/` is (re)used, weights are loaded,
     training runs, the artifacts are written, the manifest last.
A re-run after a kill continues from the last complete trainer checkpoint of the same inputs.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemix.core.artifacts import (
    announce_replacement,
    atomic_path,
    atomic_write_json,
    hash_json,
    package_versions,
    record_outputs,
    stage_dir_guard,
    stage_state,
    utc_now,
    warn,
    write_manifest,
)
from codemix.core.progress import shown
from codemix.finetune import checkpoint as ckpt
from codemix.finetune import modeling, validation
from codemix.finetune.config import TrainConfig
from codemix.finetune.data import load_rows, mixture_manifest, tokenize_mixture
from codemix.finetune.prompts import resolve_prompt_format, template_text
from codemix.finetune.resume import elapsed_before, elapsed_recorder, quiet_known_warnings, resume_point
from codemix.finetune.resume import wall_time_text as wall_time_text  # `codemix train` and `run` print it
from codemix.finetune.threads import configure_torch_threads

if TYPE_CHECKING:
    from transformers import TrainerCallback

RUN_FILE = "run.json"
TOKENIZER_DIR = "tokenizer"


def inputs_hash(cfg: TrainConfig, seed: int, content_hash: str, validation_hash: str | None = None) -> str:
    """What decides the result of training: the train section, the seed and the mixture's data
    (not the eval section, nor where the output goes), and its validation rows when it has some
    (left out otherwise, so runs without them keep their hashes)."""
    fp = {"train": cfg.model_dump(mode="json"), "seed": seed, "mixture": content_hash}
    if validation_hash is not None:
        fp["validation"] = validation_hash
    return hash_json(fp)


def train(cfg: TrainConfig, *, seed: int, mixture_dir: Path, out_dir: Path, recipe: dict, recipe_hash: str,
          force: bool = False, callbacks: list[TrainerCallback] | tuple = (), wait: float | bool = False,
          keep: bool = False) -> tuple[dict, bool]:
    """Train and write `out_dir` (= `<output_dir>/train`). Returns (manifest, built): built is
    False when a finished run with identical inputs was found and nothing was done.
    `callbacks` are extra transformers TrainerCallbacks (e.g. to stop early). The main process
    holds `out_dir`'s lock throughout (`wait`: see codemix.core.locks.locked); `keep` refuses to
    replace a finished run of other inputs."""
    modeling.quiet_libraries()
    mixture_dir, out_dir = Path(mixture_dir), Path(out_dir)
    main = modeling.process_state().is_main_process
    # Only the main process locks: the other processes of a data-parallel run work on the same
    # directory by design, under the main one's lock.
    guard = stage_dir_guard(out_dir, what="codemix train", wait=wait) if main else contextlib.nullcontext()
    with guard:
        return _train(cfg, seed=seed, mixture_dir=mixture_dir, out_dir=out_dir, recipe=recipe,
                      recipe_hash=recipe_hash, force=force, callbacks=callbacks, keep=keep, main=main)


def _train(cfg: TrainConfig, *, seed: int, mixture_dir: Path, out_dir: Path, recipe: dict, recipe_hash: str,
           force: bool, callbacks, keep: bool, main: bool) -> tuple[dict, bool]:
    start = time.time()
    mixture = mixture_manifest(mixture_dir)
    content_hash = mixture["content_hash"]
    validation_hash = (mixture.get("validation") or {}).get("content_hash")
    run_hash = inputs_hash(cfg, seed, content_hash, validation_hash)
    previous = stage_state(out_dir, run_hash)
    if not force and previous.current:
        return previous.manifest, False
    if previous.kind == "damaged" and main:
        warn(f"the checkpoint in {out_dir} is damaged ({'; '.join(previous.problems[:3])}): training again")
    elif previous.kind == "stale" and (main or keep):
        old = previous.manifest
        announce_replacement("train", out_dir, keep=keep,
                             old={"train": (old.get("recipe") or {}).get("train"), "seed": old.get("seed"),
                                  "mixture": old.get("mixture_hash")},
                             new={"train": recipe.get("train"), "seed": seed, "mixture": content_hash},
                             old_hash=old.get("recipe_hash"), new_hash=recipe_hash)
    modeling.check_environment(cfg)
    precision = modeling.resolve_precision(cfg)
    if cfg.cpu_threads is not None and not modeling.cuda_available():
        import torch

        torch.set_num_threads(cfg.cpu_threads)
        threads = {"intra_op_threads": cfg.cpu_threads, "source": "train.cpu_threads"}
    else:
        threads = configure_torch_threads()
    source = modeling.resolve_source(cfg.model)
    rows = load_rows(mixture_dir)
    state = modeling.process_state()
    progress_dir = out_dir / ckpt.IN_PROGRESS
    # The main process validates and writes the in-progress state first; the others then read
    # the tokenizer and random base it saved, so every process trains the same thing.
    with state.main_process_first():
        # The other processes always continue what the main one just prepared (even with force).
        resuming = (not force or not state.is_main_process) and _run_hash(progress_dir) == run_hash
        tokenizer = _tokenizer(cfg, source, rows, progress_dir if resuming else None)
        prompt_format = resolve_prompt_format(cfg.prompt_format, tokenizer, cfg.template)
        data = tokenize_mixture(rows, tokenizer, prompt_format, cfg.template, cfg.max_length,
                                cfg.on_overlength, source=str(mixture_dir / mixture.get("data_file", "data.jsonl")))
        overlength = data.overlength_line(cfg.max_length)
        if overlength and state.is_main_process:
            print(overlength, flush=True)
        config = modeling.model_config(cfg, source, tokenizer)
        modeling.check_target_modules(cfg, config)
        # -------- validation done: from here on we write
        if state.is_main_process:
            _prepare_dirs(out_dir, progress_dir, resuming)
            if not resuming:
                # Each written whole or not at all, and run.json last: it vouches for them, so a
                # kill or a full disk here never leaves a base without weights that a re-run trusts.
                with atomic_path(progress_dir / TOKENIZER_DIR) as tmp:
                    tokenizer.save_pretrained(tmp)
                if source.kind == "random":
                    base = modeling.build_random_model(config, seed)
                    with atomic_path(progress_dir / ckpt.RANDOM_BASE) as tmp:
                        base.save_pretrained(tmp)
                        tokenizer.save_pretrained(tmp)
                    del base
                atomic_write_json(progress_dir / RUN_FILE, {"inputs_hash": run_hash, "started": utc_now()})
    model = modeling.load_model(cfg, source, config, precision, progress_dir / ckpt.RANDOM_BASE)
    from codemix.finetune.sft import make_trainer

    resume_from = resume_point(progress_dir, remove_damaged=state.is_main_process) if resuming else None
    earlier = elapsed_before(resume_from)
    clock = elapsed_recorder(session_start=start, earlier=earlier)
    trainer = make_trainer(cfg, model, tokenizer, data.dataset, seed=seed, precision=precision,
                           progress_dir=progress_dir, logs_dir=out_dir / ckpt.LOGS,
                           extra_callbacks=[clock, *callbacks])
    train_start = clock.train_start = time.time()
    steps_before = 0
    tokens_before = 0
    finished = False
    if resume_from is not None:
        from transformers.trainer_callback import TrainerState

        prev = TrainerState.load_from_json(str(Path(resume_from) / "trainer_state.json"))
        steps_before, tokens_before = prev.global_step, prev.num_input_tokens_seen
        # Killed after the checkpoint of the last step: training is done. Resuming through
        # trainer.train() would run one step too many (measured: steps 11 of 10, an extra loss
        # entry, more tokens); take the weights and the state as the checkpoint holds them.
        finished = prev.max_steps > 0 and prev.global_step >= prev.max_steps
        if state.is_main_process:
            print(f"[train] resuming from {Path(resume_from).name} (step {prev.global_step} of {prev.max_steps}) "
                  f"in {shown(progress_dir)}", flush=True)
    with quiet_known_warnings(trainer.model):
        if finished:
            trainer._load_from_checkpoint(resume_from)
            trainer.state = prev
        else:
            trainer.train(resume_from_checkpoint=resume_from)
    train_s = time.time() - train_start
    state = modeling.process_state()  # transformers re-creates the shared state with the trainer

    # All processes take part in saving (sharded models gather their weights here).
    final_dir = progress_dir / "final"
    trainer.save_model(str(final_dir))
    tokens = int(trainer.state.num_input_tokens_seen)
    held_out = validation.validation_rows(mixture_dir) if validation_hash is not None else None
    # Every process runs the forward passes (a sharded model needs all of them); the main one writes.
    scores = validation.validation_loss(trainer.model, tokenizer, held_out, prompt_format, cfg.template,
                                        cfg.max_length) if held_out is not None else None
    manifest = _manifest(cfg, trainer, recipe=recipe, recipe_hash=recipe_hash, run_hash=run_hash,
                         content_hash=content_hash, mixture_dir=mixture_dir, source=source, config=config,
                         prompt_format=prompt_format, precision=precision, data=data.stats(),
                         tokens=tokens, session_tokens=tokens - tokens_before, train_s=train_s,
                         resumed_from_step=steps_before if resume_from else None, state=state,
                         threads=threads, earlier=earlier)
    if scores is not None:
        manifest["validation_loss"] = {d: v["mean"] for d, v in scores["domains"].items()}
        if state.is_main_process:
            atomic_write_json(out_dir / validation.VALIDATION_LOSS_FILE, scores)
    # Free the trained model before writing (merging loads another copy of the base).
    del trainer, model
    _release_memory()
    if state.is_main_process:
        _finish(cfg, out_dir, progress_dir, final_dir, tokenizer, source, manifest, start)
    state.wait_for_everyone()
    return manifest, True


# ---------------------------------------------------------------- pieces

def _tokenizer(cfg: TrainConfig, source: modeling.ModelSource, rows, saved_dir: Path | None):
    if source.kind != "random":
        return modeling.load_pretrained_tokenizer(cfg, source)
    if saved_dir is not None and (saved_dir / TOKENIZER_DIR).is_dir():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(saved_dir / TOKENIZER_DIR)
    from codemix.finetune.tokenizer import build_tokenizer, mixture_texts

    kind = cfg.model.tokenizer.kind
    texts = mixture_texts(rows) if kind == "bpe" else None
    return build_tokenizer(kind, texts, cfg.model.tokenizer.vocab_size,
                           model_max_length=cfg.model.arch.max_position_embeddings,
                           split_digits=cfg.model.tokenizer.split_digits)


def _run_hash(progress_dir: Path) -> str | None:
    import json

    try:
        return json.loads((progress_dir / RUN_FILE).read_text())["inputs_hash"]
    except (OSError, ValueError, KeyError):
        return None


def _prepare_dirs(out_dir: Path, progress_dir: Path, resuming: bool) -> None:
    """Invalidate a previous finished run (manifest first, so a crash never leaves an old manifest
    next to new weights), then start or keep the in-progress area."""
    (out_dir / "manifest.json").unlink(missing_ok=True)
    for name in (ckpt.ARTIFACT_FULL, ckpt.ARTIFACT_ADAPTER, ckpt.RANDOM_BASE, ckpt.MERGED, ckpt.LOSS_PLOT,
                 validation.VALIDATION_LOSS_FILE):
        _remove(out_dir / name)
    if resuming:
        return
    _remove(progress_dir)
    _remove(out_dir / ckpt.LOGS)
    progress_dir.mkdir(parents=True)


def _release_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _remove(p: Path) -> None:
    if p.is_dir():
        shutil.rmtree(p)
    elif p.exists():
        p.unlink()


def _losses(log_history: list[dict]) -> list[dict]:
    keys = ("loss", "learning_rate", "grad_norm", "mean_token_accuracy")
    out = []
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            out.append({"step": entry["step"], **{k: float(entry[k]) for k in keys if k in entry}})
    return out


def _manifest(cfg: TrainConfig, trainer, *, recipe: dict, recipe_hash: str, run_hash: str, content_hash: str,
              mixture_dir: Path, source: modeling.ModelSource, config, prompt_format: str, precision: str,
              data: dict, tokens: int, session_tokens: int, train_s: float, resumed_from_step: int | None,
              state, threads: dict[str, Any], earlier: dict[str, float] | None) -> dict[str, Any]:
    losses = _losses(trainer.state.log_history)
    model = trainer.model
    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    commit = getattr(config, "_commit_hash", None) if source.kind == "hub" else None
    arch = cfg.model.arch.model_dump(mode="json") if cfg.model.arch else None
    from codemix.finetune.sft import packing_strategy

    return {
        "stage": "train",
        "inputs_hash": run_hash,
        "recipe_hash": recipe_hash,
        "recipe": recipe,
        "seed": trainer.args.seed,
        "mixture_hash": content_hash,
        "mixture_dir": str(mixture_dir),
        "base_model": {"kind": source.kind, "id": source.path, "revision": source.revision, "commit": commit,
                       "arch": arch, "model_type": config.model_type},
        "method": cfg.method,
        "is_adapter": cfg.method != "full",
        "artifact": ckpt.ARTIFACT_ADAPTER if cfg.method != "full" else ckpt.ARTIFACT_FULL,
        "prompt_format": prompt_format,
        "template": cfg.template if prompt_format == "custom" else None,
        "template_text": template_text(prompt_format, cfg.template),
        "losses": losses,
        "final_loss": losses[-1]["loss"] if losses else None,
        "steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "tokens": tokens,
        "tokens_per_s": round(session_tokens / train_s, 1) if train_s > 0 and session_tokens else None,
        "train_s": round(train_s, 2),
        "wall_s": None,  # filled in by _finish (it includes saving)
        # Over every session up to here (None: the checkpoint resumed from did not record it).
        "train_s_total": None if earlier is None else round(train_s + earlier["train_s"], 2),
        "wall_s_total": None,  # filled in by _finish
        "earlier_sessions": earlier,
        "resumed_from_step": resumed_from_step,
        "data": data,
        "parameters": n_params,
        "trainable_parameters": n_trainable,
        "precision": precision,
        "packing": packing_strategy(cfg) if cfg.packing else "none",
        "topology": {"num_processes": state.num_processes, "distributed_type": state.distributed_type.value,
                     "device": str(state.device), "per_device_batch_size": cfg.per_device_batch_size,
                     "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
                     "global_batch_size": cfg.per_device_batch_size * cfg.gradient_accumulation_steps
                     * state.num_processes, "cpu_threads": threads},
        "package_versions": package_versions(),
        "created": utc_now(),
    }


def _finish(cfg: TrainConfig, out_dir: Path, progress_dir: Path, final_dir: Path, tokenizer,
            source: modeling.ModelSource, manifest: dict, start: float) -> None:
    """Move the artifacts into place, write loss.png and, last, the manifest; drop checkpoints/."""
    tokenizer.save_pretrained(final_dir)
    artifact = out_dir / manifest["artifact"]
    _remove(artifact)
    (final_dir / "training_args.bin").unlink(missing_ok=True)  # pickled SFTConfig; the manifest has the recipe
    final_dir.rename(artifact)
    if source.kind == "random":
        # Copied, not moved: if this is interrupted, a re-run still resumes from checkpoints/.
        base = out_dir / ckpt.RANDOM_BASE
        _remove(base)
        shutil.copytree(progress_dir / ckpt.RANDOM_BASE, base)
    if cfg.merge:
        _write_merged(out_dir, manifest)
    if manifest["losses"]:
        ckpt.plot_losses(manifest["losses"], out_dir / ckpt.LOSS_PLOT,
                         f"{manifest['recipe'].get('name', 'train')}: {cfg.method}, {manifest['steps']} steps")
    _remove(progress_dir)
    manifest["files"] = ckpt.listed_files(out_dir)
    manifest["outputs"] = record_outputs(out_dir, manifest["files"])
    manifest["wall_s"] = round(time.time() - start, 2)
    earlier = manifest.pop("earlier_sessions")
    manifest["wall_s_total"] = None if earlier is None else round(manifest["wall_s"] + earlier["wall_s"], 2)
    write_manifest(out_dir, manifest)


def _write_merged(out_dir: Path, manifest: dict) -> None:
    """Fold the adapter into an unquantized copy of its base (for qlora too: merging into 4-bit
    weights would round the result)."""
    import torch

    from codemix.core.artifacts import atomic_path

    # On a GPU in bf16 (what a merged model is usually served in); on CPU in fp32 (bf16 is slow there).
    cuda = torch.cuda.is_available()
    model, tokenizer = ckpt.load_resolved(ckpt.resolve_paths(out_dir.resolve(), manifest),
                                          device="cuda" if cuda else "cpu", dtype=None, merge=True)
    with atomic_path(out_dir / ckpt.MERGED) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
