"""The `train:` section of a recipe: model, method (lora | qlora | full), prompt format and the
hyperparameters mapped onto trl's SFTConfig."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The scheduler names transformers' SchedulerType accepts (a test checks the two agree), listed
# here so that a misspelled name fails at `codemix validate`, without importing transformers.
LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup",
                 "inverse_sqrt", "reduce_lr_on_plateau", "cosine_with_min_lr", "cosine_warmup_with_min_lr",
                 "warmup_stable_decay", "greedy")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ArchConfig(_Strict):
    arch: Literal["llama", "qwen2", "gpt2"] = Field("llama", description="Architecture of a randomly initialised model: llama, qwen2, or gpt2 (learned positions, pre-LayerNorm, GELU MLP).")
    hidden_size: int = Field(128, gt=0, description="Model width.")
    layers: int = Field(2, gt=0, description="Number of transformer layers.")
    heads: int = Field(4, gt=0, description="Attention heads.")
    kv_heads: int | None = Field(None, gt=0, description="Key/value heads (grouped-query attention); default = heads.")
    intermediate_size: int | None = Field(None, gt=0, description="MLP width; default 4 x hidden_size.")
    max_position_embeddings: int = Field(1024, gt=0, description="Longest sequence the model can take.")
    tie_embeddings: bool = Field(True, description="Share input and output embeddings.")
    dropout: float = Field(0.0, ge=0, lt=1, description="Dropout (gpt2: embeddings, residuals and attention; llama/qwen2: attention). 0 for short from-scratch runs.")

    @model_validator(mode="after")
    def _shape(self) -> ArchConfig:
        # transformers builds these shapes without a word and fails at the first forward pass
        # (or, for kv_heads, at load), after the mixture and tokenizer are built: say it here.
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by heads {self.heads} "
                             f"(each head gets hidden_size / heads dimensions); try heads: "
                             f"{_divisor_near(self.hidden_size, self.heads)}")
        head_dim = self.hidden_size // self.heads
        if self.arch in ("llama", "qwen2") and head_dim % 2:
            raise ValueError(f"hidden_size / heads = {head_dim} is odd; {self.arch}'s rotary embeddings need an even "
                             "head size")
        if self.kv_heads is not None and (self.kv_heads > self.heads or self.heads % self.kv_heads):
            raise ValueError(f"kv_heads {self.kv_heads} must divide heads {self.heads} (grouped-query attention shares "
                             "each key/value head among heads / kv_heads query heads)")
        if self.arch == "gpt2" and self.kv_heads not in (None, self.heads):
            raise ValueError(f"gpt2 has no grouped-query attention; drop kv_heads ({self.kv_heads})")
        return self


def _divisor_near(n: int, k: int) -> int:
    """The divisor of n closest to k (ties: the smaller)."""
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - k), d))


class TokenizerConfig(_Strict):
    kind: Literal["model", "byte", "bpe"] = Field("model", description="model: the base model's own tokenizer; byte: 256 byte tokens; bpe: byte-level BPE trained on the mixture (no download).")
    vocab_size: int = Field(1024, ge=260, description="Vocabulary size of a trained BPE tokenizer (incl. 256 byte tokens and 4 special tokens).")
    split_digits: bool = Field(True, description="bpe: every digit its own token, so numbers are copied digit by digit (72/114 vs 19/114 held-out smoke tasks solved by a tiny model).")


class ModelConfig(_Strict):
    path: str | None = Field(None, description="Hub id or local directory of a causal LM, or a codemix train output with full weights (not with init: random).")
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) to pin.")
    init: Literal["pretrained", "random"] = Field("pretrained", description="pretrained: load weights from `path`; random: build `arch` with random weights.")
    arch: ArchConfig | None = Field(None, description="Architecture for init: random.")
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig, description="Which tokenizer to use.")
    trust_remote_code: bool = Field(False, description="Allow model code from the Hub.")

    @model_validator(mode="after")
    def _consistent(self) -> ModelConfig:
        if self.init == "random":
            if self.arch is None:
                raise ValueError("init: random needs an arch section (e.g. {arch: llama, hidden_size: 128, layers: 2, heads: 4})")
            if self.tokenizer.kind == "model":
                raise ValueError("init: random has no tokenizer of its own; set tokenizer.kind to byte or bpe")
            if self.path is not None:
                raise ValueError("init: random builds the model from arch; drop path")
        else:
            if self.path is None:
                raise ValueError("model.path is required unless init: random")
            if self.tokenizer.kind != "model":
                raise ValueError("a pretrained model keeps its own tokenizer; tokenizer.kind must be model")
            if self.arch is not None:
                raise ValueError("arch is only for init: random")
        return self


class LoraConfig(_Strict):
    r: int = Field(16, gt=0, description="LoRA rank.")
    alpha: float = Field(32, gt=0, description="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA branch.")
    target_modules: list[str] | Literal["all-linear"] = Field("all-linear", description="Module names to adapt (matched as name suffixes, e.g. q_proj), or all-linear.")


class TrainConfig(_Strict):
    model: ModelConfig = Field(description="The model to fine-tune.")
    method: Literal["lora", "qlora", "full"] = Field("lora", description="lora, qlora (4-bit NF4, GPU only) or full fine-tuning.")
    lora: LoraConfig = Field(default_factory=LoraConfig, description="Adapter settings for lora / qlora.")
    prompt_format: Literal["auto", "chat_template", "alpaca", "magicoder", "plain", "custom"] = Field("auto", description="auto: the tokenizer's chat template if it has one, else alpaca.")
    template: str | None = Field(None, description="With prompt_format: custom, a template with {instruction} (optionally {system}, and {response} last).")
    learning_rate: float = Field(2e-4, gt=0, description="Peak learning rate.")
    lr_scheduler: Literal[LR_SCHEDULERS] = Field("cosine", description="transformers scheduler name (linear, cosine, constant, constant_with_warmup, ...).")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Fraction of steps spent warming up.")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    adam_beta2: float = Field(0.999, gt=0, lt=1, description="AdamW beta2 (0.98 is common for training small transformers from scratch).")
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping norm.")
    epochs: float = Field(1.0, gt=0, description="Passes over the mixture (ignored when max_steps > 0).")
    max_steps: int = Field(-1, description="Stop after this many optimizer steps (-1: use epochs).")
    per_device_batch_size: int = Field(8, gt=0, description="Sequences per device per step.")
    gradient_accumulation_steps: int = Field(1, gt=0, description="Micro-batches per optimizer step.")
    max_length: int = Field(1024, gt=0, description="Longest tokenised example (tokens); with packing, the packed sequence length.")
    on_overlength: Literal["truncate", "error"] = Field("truncate", description="Longer examples: truncate (and count) or error.")
    packing: bool = Field(False, description="Pack examples into max_length sequences.")
    packing_strategy: Literal["auto", "bfd", "wrapped"] = Field("auto", description="bfd: padding-free, examples kept whole and apart; wrapped: concatenate and cut (fastest on CPU, ~2x bfd per token); auto: bfd on GPU, wrapped on CPU.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (~1.4x slower; off by default).")
    cpu_threads: int | None = Field(None, gt=0, description="torch threads when training on CPU (default: the CPUs available that other processes do not keep busy at start-up, recorded in the manifest). Pin it for bitwise-identical losses across machines and loads: float reductions depend on the thread count. On a CPU shared with other jobs 1 is far faster: the markov model ran 3.7 steps/s with 1 thread, 0.5 with 2, on 2 busy cores.")
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field("auto", description="auto: bf16 on capable GPUs (else fp16), fp32 on CPU.")
    logging_steps: int = Field(10, gt=0, description="Log the loss every N steps (and at the last step).")
    save_steps: int = Field(100, gt=0, description="Checkpoint every N steps (a killed run resumes from the last).")
    report_to: list[Literal["tensorboard", "wandb", "none"]] = Field(default_factory=lambda: ["tensorboard"], description="Where to log.")
    merge: bool = Field(False, description="Also write a merged model (adapter folded into the base) for lora / qlora.")

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.max_steps == 0 or self.max_steps < -1:
            raise ValueError(f"max_steps must be positive or -1 (use epochs), got {self.max_steps}")
        if self.prompt_format == "custom" and not self.template:
            raise ValueError("prompt_format: custom needs a template (a string with {instruction})")
        if self.template is not None and self.prompt_format != "custom":
            raise ValueError("template is only used with prompt_format: custom")
        if self.merge and self.method == "full":
            raise ValueError("merge: true folds an adapter into its base; method full has no adapter")
        return self
