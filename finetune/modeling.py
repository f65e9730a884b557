"""Model and tokenizer resolution for a training run, with every check that can fail done before
any weights are loaded: environment (CUDA, bitsandbytes, wandb), model path, tokenizer pad/eos,
LoRA target modules (checked on a weightless meta-device copy of the model)."""

from __future__ import annotations

import importlib.util
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemix.core.artifacts import read_manifest
from codemix.core.errors import CodemixError
from codemix.finetune.config import ModelConfig, TrainConfig

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase


@dataclass(frozen=True)
class ModelSource:
    kind: str                   # "hub", "local" or "random"
    path: str | None            # Hub id or local directory (None for random)
    revision: str | None = None


def quiet_libraries() -> None:
    """Silence what is noise for codemix users: bitsandbytes' CPU-kernel notice (printed on import
    even when nothing is quantized) and the libraries' own progress bars (see codemix.core.progress)."""
    import logging

    from codemix.core.progress import quiet_library_bars

    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    # transformers' own internals still call the renamed property; users cannot act on it.
    warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    quiet_library_bars()


def process_state():
    """accelerate's view of the processes of this run. On CPU it must be told (cpu=True):
    otherwise each process that torchrun starts believes it is alone, and main-process-first
    ordering silently does nothing."""
    from accelerate import PartialState

    cpu = not cuda_available() or os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    return PartialState(cpu=cpu)


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_precision(cfg: TrainConfig) -> str:
    """fp32 / bf16 / fp16 for this run. auto: bf16 on GPUs that have it, else fp16 on GPU,
    fp32 on CPU (bf16 matmuls on this CPU are ~12x slower than fp32; fp16 is ignored there)."""
    cuda = cuda_available()
    if cfg.precision == "auto":
        if not cuda:
            return "fp32"
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if cfg.precision == "fp16" and not cuda:
        raise CodemixError("train.precision: fp16 needs a CUDA GPU (on CPU it would silently train in fp32); "
                           "use auto or fp32")
    if cfg.precision == "bf16" and not cuda:
        warnings.warn("train.precision: bf16 on CPU runs ~12x slower than fp32 here", stacklevel=2)
    return cfg.precision


def check_environment(cfg: TrainConfig) -> None:
    """Errors that need no model and no data: say them first."""
    if cfg.method == "qlora":
        if not cuda_available():
            raise CodemixError("train.method: qlora quantizes the base to 4-bit NF4 with bitsandbytes and needs a "
                               "CUDA GPU; none is available here (use method: lora or full on CPU)")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise CodemixError("train.method: qlora needs bitsandbytes; install it with "
                               "`pip install 'codemix[gpu]'` (or `pip install bitsandbytes`)")
        if cfg.model.init == "random":
            raise CodemixError("train.method: qlora quantizes a pretrained base; with init: random use full")
    if "wandb" in cfg.report_to and importlib.util.find_spec("wandb") is None:
        raise CodemixError("train.report_to: wandb is not installed (`pip install 'codemix[wandb]'`)")
    if "none" in cfg.report_to and len(cfg.report_to) > 1:
        raise CodemixError(f"train.report_to: 'none' cannot be combined with {cfg.report_to}")
    from transformers import SchedulerType

    names = [s.value for s in SchedulerType]
    if cfg.lr_scheduler not in names:
        raise CodemixError(f"train.lr_scheduler: unknown scheduler {cfg.lr_scheduler!r}; one of {', '.join(names)}")
    resolve_precision(cfg)


# ---------------------------------------------------------------- where the model comes from

def _is_hub_id(path: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?", path)) and not path.startswith(".")


def codemix_model_dir(path: Path) -> Path | None:
    """A codemix training output used as a base: its full model, or its merged model."""
    manifest = read_manifest(path)
    if manifest is None or manifest.get("stage") != "train":
        return None
    for sub in ("model", "merged"):
        if (path / sub / "config.json").is_file():
            return path / sub
    raise CodemixError(f"{path}: a codemix adapter checkpoint has no full weights to train on; "
                       "train it with merge: true and point model.path at it again")


def resolve_source(model: ModelConfig) -> ModelSource:
    if model.init == "random":
        return ModelSource("random", None)
    path = os.path.expanduser(model.path)
    p = Path(path)
    if p.is_dir():
        inner = codemix_model_dir(p)
        if inner is not None:
            return ModelSource("local", str(inner.resolve()))
        if not (p / "config.json").is_file():
            raise CodemixError(f"train.model.path: {path} has no config.json (not a Hugging Face model directory)")
        return ModelSource("local", str(p.resolve()))
    if p.exists():
        raise CodemixError(f"train.model.path: {path} is a file; expected a model directory or a Hub id")
    if not _is_hub_id(model.path):
        raise CodemixError(f"train.model.path: no such model directory: {path}")
    from codemix.mixing.hub import require_hub

    require_hub(f"train.model.path {model.path!r} (not a local directory)",
                "set train.model.path to a local model directory", repo_id=model.path)
    return ModelSource("hub", model.path, model.revision)


def _hub_error(source: ModelSource, what: str, e: Exception) -> CodemixError:
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    hint = " (HF_HUB_OFFLINE=1 is set and it is not in the local cache)" if offline else ""
    rev = f" at revision {source.revision}" if source.revision else ""
    first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return CodemixError(f"train.model.path: cannot load the {what} of {source.path!r}{rev}{hint}: {first}")


# ---------------------------------------------------------------- tokenizer

def load_pretrained_tokenizer(cfg: TrainConfig, source: ModelSource) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(source.path, revision=source.revision,
                                            trust_remote_code=cfg.model.trust_remote_code)
    except (OSError, ValueError) as e:
        raise _hub_error(source, "tokenizer", e) from None
    fix_special_tokens(tok, cfg)
    return tok


def fix_special_tokens(tok: PreTrainedTokenizerBase, cfg: TrainConfig) -> None:
    """Give a tokenizer without a pad token one (its eos: labels mask padding by position, so
    the eos at a row's end is still trained). Without an eos the model cannot learn to stop."""
    if tok.eos_token is None:
        raise CodemixError(f"train.model: the tokenizer of {cfg.model.path!r} has no eos token, so the model "
                           "could not learn where a completion ends; use a tokenizer that has one")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"


# ---------------------------------------------------------------- model config and target modules

def model_config(cfg: TrainConfig, source: ModelSource, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    if source.kind == "random":
        return random_config(cfg, tokenizer)
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source.path, revision=source.revision,
                                            trust_remote_code=cfg.model.trust_remote_code)
    except (OSError, ValueError) as e:
        raise _hub_error(source, "config", e) from None
    if getattr(config, "pad_token_id", None) is None:
        config.pad_token_id = tokenizer.pad_token_id
    return config


def random_config(cfg: TrainConfig, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    from transformers import LlamaConfig, Qwen2Config

    a = cfg.model.arch
    if a.hidden_size % a.heads:
        raise CodemixError(f"train.model.arch: hidden_size {a.hidden_size} is not divisible by heads {a.heads}")
    kv_heads = a.kv_heads or a.heads
    if a.heads % kv_heads:
        raise CodemixError(f"train.model.arch: heads {a.heads} is not a multiple of kv_heads {kv_heads}")
    if cfg.max_length > a.max_position_embeddings:
        raise CodemixError(f"train.max_length {cfg.max_length} exceeds train.model.arch.max_position_embeddings "
                           f"{a.max_position_embeddings}")
    if a.arch == "gpt2":
        return _gpt2_config(a, tokenizer)
    cls = {"llama": LlamaConfig, "qwen2": Qwen2Config}[a.arch]
    return cls(attention_dropout=a.dropout,
        vocab_size=len(tokenizer), hidden_size=a.hidden_size, intermediate_size=a.intermediate_size or 4 * a.hidden_size,
        num_hidden_layers=a.layers, num_attention_heads=a.heads, num_key_value_heads=kv_heads,
        max_position_embeddings=a.max_position_embeddings, tie_word_embeddings=a.tie_embeddings,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )


def _gpt2_config(a, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    """GPT-2 (the architecture of the string-rewrite experiments): learned absolute positions,
    pre-LayerNorm blocks, GELU MLP; no grouped-query attention."""
    from transformers import GPT2Config

    if a.kv_heads not in (None, a.heads):
        raise CodemixError(f"train.model.arch: gpt2 has no grouped-query attention; drop kv_heads ({a.kv_heads})")
    return GPT2Config(
        vocab_size=len(tokenizer), n_embd=a.hidden_size, n_layer=a.layers, n_head=a.heads,
        n_inner=a.intermediate_size or 4 * a.hidden_size, n_positions=a.max_position_embeddings,
        resid_pdrop=a.dropout, embd_pdrop=a.dropout, attn_pdrop=a.dropout, tie_word_embeddings=a.tie_embeddings,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )


def linear_module_names(config: PretrainedConfig, trust_remote_code: bool = False) -> list[str]:
    """Names of the model's Linear layers, from a meta-device copy (no memory, no weights)."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, trust_remote_code=trust_remote_code)
    return [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]


def check_target_modules(cfg: TrainConfig, config: PretrainedConfig) -> None:
    """Each listed LoRA target must match some Linear layer (peft matches name suffixes)."""
    if cfg.method == "full" or cfg.lora.target_modules == "all-linear":
        return
    names = linear_module_names(config, cfg.model.trust_remote_code)
    unmatched = [t for t in cfg.lora.target_modules
                 if not any(n == t or n.endswith("." + t) for n in names)]
    if unmatched:
        leaves = sorted({n.rsplit(".", 1)[-1] for n in names})
        raise CodemixError(f"train.lora.target_modules: {unmatched} match no layer of the model; "
                           f"its linear layers are: {', '.join(leaves)} (or use all-linear)")


# ---------------------------------------------------------------- loading

def torch_dtype(precision: str, method: str) -> torch.dtype:
    """Weights dtype. Full fine-tuning keeps fp32 master weights (autocast does bf16/fp16);
    an adapter's frozen base is stored in the compute dtype to halve its memory."""
    import torch

    if method == "full" or precision == "fp32":
        return torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def load_model(cfg: TrainConfig, source: ModelSource, config: PretrainedConfig, precision: str,
               random_base_dir: Path | None = None) -> PreTrainedModel:
    """The model to train. Random-init models are read back from `random_base_dir`, where they
    were saved when the run started (so a resumed run and every process use identical weights)."""
    from transformers import AutoModelForCausalLM

    dtype = torch_dtype(precision, cfg.method)
    if source.kind == "random":
        return AutoModelForCausalLM.from_pretrained(random_base_dir, dtype=dtype)
    kwargs: dict[str, Any] = {"revision": source.revision, "dtype": dtype,
                              "trust_remote_code": cfg.model.trust_remote_code}
    if cfg.method == "qlora":
        import torch
        from accelerate import PartialState
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16)
        # 4-bit weights are quantized as they load, onto this process's own GPU.
        kwargs["device_map"] = {"": PartialState().local_process_index}
    try:
        model = AutoModelForCausalLM.from_pretrained(source.path, config=config, **kwargs)
    except (OSError, ValueError) as e:
        raise _hub_error(source, "weights", e) from None
    return model


def build_random_model(config: PretrainedConfig, seed: int) -> PreTrainedModel:
    import transformers
    from transformers import AutoModelForCausalLM

    transformers.set_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    return model


def lora_config(cfg: TrainConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=cfg.lora.target_modules, bias="none", task_type="CAUSAL_LM")
