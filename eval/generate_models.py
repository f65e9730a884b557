"""Which model to generate with: a `codemix train` checkpoint (its manifest names the base, the
adapter and the prompt format), a model directory, or a Hub id with an optional peft adapter;
and loading it for the HF backend."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mixing.artifacts import MANIFEST_NAME
from mixing.errors import CodemixError


@dataclass(frozen=True)
class ModelSource:
    ref: str                          # what the user named
    adapter: str | None
    checkpoint: dict[str, Any] | None  # the codemix checkpoint manifest, when ref is one


def resolve_model(model_ref: str, adapter: str | None) -> ModelSource:
    """Classify `model_ref`: a codemix checkpoint (manifest.json), a model directory
    (config.json) or a Hub id; say precisely what is wrong otherwise."""
    path = Path(model_ref).expanduser()
    checkpoint = None
    if path.exists():
        if not path.is_dir():
            raise CodemixError(f"{path}: is a file; expected a codemix checkpoint or model directory")
        if (path / MANIFEST_NAME).is_file() or (path / "train" / MANIFEST_NAME).is_file():
            from finetune.checkpoint import read_checkpoint

            checkpoint = read_checkpoint(path)  # a train dir, or an experiment's output_dir
        elif (path / "adapter_config.json").is_file():
            raise CodemixError(f"{path}: is an adapter, not a model; pass its base model as the model and "
                               f"this directory as the adapter")
        elif not (path / "config.json").is_file():
            unfinished = [p.name for p in (path / "checkpoints", path / "train" / "checkpoints") if p.is_dir()]
            unfinished += sorted(p.name for p in path.glob("checkpoint-*") if p.is_dir())[:3]
            hint = (f"; it holds {', '.join(unfinished)}: training did not finish, run `codemix train` again "
                    "to resume it") if unfinished else ""
            raise CodemixError(f"{path}: neither a codemix checkpoint (no {MANIFEST_NAME}) nor a model directory "
                               f"(no config.json){hint}")
    elif model_ref.startswith((".", "/", "~")) or model_ref.count("/") > 1:
        raise CodemixError(f"{model_ref}: no such directory (and not a Hub id of the form owner/name)")
    if adapter is not None:
        if checkpoint is not None:
            raise CodemixError(f"{model_ref} is a codemix checkpoint (it names its own base model and adapter); "
                               "do not pass an adapter with it")
        apath = Path(adapter).expanduser()
        if not (apath / "adapter_config.json").is_file():
            raise CodemixError(f"{adapter}: not a peft adapter directory (no adapter_config.json)")
    return ModelSource(model_ref, adapter, checkpoint)


def _device_and_dtype():
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    # bf16 matmuls are ~12x slower than fp32 on these CPUs (STACK-NOTES).
    return "cpu", torch.float32


def load_hf_model(source: ModelSource):
    """(model, tokenizer) on the best device, in eval mode."""
    device, dtype = _device_and_dtype()
    if source.checkpoint is not None:
        from finetune.checkpoint import load_resolved

        # A LoRA adapter is folded into the base for HF generation: the same function, without
        # the extra adapter matmuls and peft's per-module overhead at every decoding step.
        model, tokenizer = load_resolved(source.checkpoint, device=device, dtype=dtype, merge=True)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(source.ref)
            model = AutoModelForCausalLM.from_pretrained(source.ref, dtype=dtype).to(device)
            if source.adapter:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, source.adapter)
        except OSError as e:
            raise CodemixError(f"could not load model {source.ref}"
                               f"{' with adapter ' + source.adapter if source.adapter else ''}: "
                               f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    model.eval()
    return model, tokenizer
