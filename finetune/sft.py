"""The recipe's `train:` hyperparameters mapped onto trl's SFTConfig, and the SFTTrainer built
from them. trl 1.16's defaults are GPU defaults (bf16 on, activation checkpointing on); every
value that matters is set here explicitly so a CPU run is fp32 and uncheckpointed.
(Imported lazily by codemix.finetune.trainer: it loads transformers.)"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback

from codemix.core.progress import progress_shown
from codemix.finetune import modeling
from codemix.finetune.config import TrainConfig

if TYPE_CHECKING:
    import datasets
    from transformers import PreTrainedModel, PreTrainedTokenizerBase
    from trl import SFTConfig, SFTTrainer

# Checkpoints kept for resuming: the newest may be cut short by a kill, the one before is whole.
SAVE_TOTAL_LIMIT = 2


def packing_strategy(cfg: TrainConfig) -> str:
    """auto: bfd (padding-free, examples kept apart) on GPU; wrapped on CPU, where bfd's
    block-diagonal attention mask costs ~2x per token (measured with trl 1.16 on 2 cores)."""
    if cfg.packing_strategy != "auto":
        return cfg.packing_strategy
    return "bfd" if modeling.cuda_available() else "wrapped"


def sft_config(cfg: TrainConfig, *, seed: int, precision: str, output_dir: Path) -> SFTConfig:
    from trl import SFTConfig

    report_to = [r for r in cfg.report_to if r not in ("none", "tensorboard")]  # tensorboard: our own writer
    return SFTConfig(
        output_dir=str(output_dir),
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,  # a float in [0, 1) is a ratio of the total steps
        weight_decay=cfg.weight_decay,
        adam_beta2=cfg.adam_beta2,
        max_grad_norm=cfg.max_grad_norm,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.per_device_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        max_length=cfg.max_length,
        packing=cfg.packing,
        packing_strategy=packing_strategy(cfg) if cfg.packing else "bfd",
        activation_checkpointing=cfg.gradient_checkpointing,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not modeling.cuda_available(),
        seed=seed,
        data_seed=seed,
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=SAVE_TOTAL_LIMIT,
        report_to=report_to or "none",
        disable_tqdm=not progress_shown(),  # a terminal only (codemix.core.progress)
        include_num_input_tokens_seen="non_padding",
        dataloader_num_workers=0,
        # The rows arrive tokenized with their labels (codemix.finetune.data); trl only packs and collates.
        completion_only_loss=False,
        dataset_num_proc=None,
        # Without packing there is nothing left for trl to do: rows are tokenized, truncated and
        # rid of label-less rows already, and its row-by-row truncate/filter passes cost ~1 min
        # per 65k rows on a busy 2-core CPU. Packing still goes through trl's preparation.
        dataset_kwargs={"skip_prepare_dataset": True} if not cfg.packing else None,
    )


def make_trainer(cfg: TrainConfig, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                 dataset: datasets.Dataset, *, seed: int, precision: str, progress_dir: Path, logs_dir: Path,
                 extra_callbacks: list[TrainerCallback] | tuple = ()) -> SFTTrainer:
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTTrainer

    args = sft_config(cfg, seed=seed, precision=precision, output_dir=progress_dir)
    peft_config = modeling.lora_config(cfg) if cfg.method in ("lora", "qlora") else None
    callbacks: list[Any] = [LogLastStep()]
    if "tensorboard" in cfg.report_to and args.process_index == 0:
        from torch.utils.tensorboard import SummaryWriter
        from transformers.integrations import TensorBoardCallback

        callbacks.append(TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(logs_dir))))
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config, callbacks=callbacks + list(extra_callbacks))
    # transformers prints every log dict ({'loss': '0.06667', ...}): with the bar off through
    # PrinterCallback, with it on through ProgressCallback.on_log. The loss goes on the bar instead.
    trainer.remove_callback(PrinterCallback)
    if trainer.pop_callback(ProgressCallback) is not None:
        trainer.add_callback(QuietProgress())
    return trainer


class QuietProgress(ProgressCallback):
    """transformers' training bar, showing the latest loss and learning rate on the bar itself
    instead of writing each log dict as a line of its own."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and logs:
            shown = {k: f"{logs[k]:.4g}" for k in ("loss", "learning_rate") if isinstance(logs.get(k), (int, float))}
            if shown:
                self.training_bar.set_postfix(shown, refresh=False)


class LogLastStep(TrainerCallback):
    """Log at the final step too, so the manifest's final_loss is the loss at the end."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step >= state.max_steps:
            control.should_log = True
        return control
