"""The checkpoint a training run leaves in `<output_dir>/train/`, and how to load it.

Layout of a finished run (every directory is self-contained: Hugging Face tools load it as is):

    train/
      manifest.json   written last; its presence means the run finished (contents below)
      model/          method full: the trained model + its tokenizer: config.json,
                      generation_config.json, model.safetensors, tokenizer.json,
                      tokenizer_config.json (+ chat_template.jinja and whatever other
                      tokenizer files the base model's tokenizer saves)
      adapter/        method lora/qlora: the peft adapter + tokenizer: adapter_config.json,
                      adapter_model.safetensors, README.md (peft's model card), tokenizer files;
                      loadable with `PeftModel.from_pretrained(base, "train/adapter")`
      base/           init: random only: the randomly initialised starting weights + tokenizer,
                      same files as model/ (they exist nowhere else; an adapter's base is here)
      merged/         merge: true only: the adapter folded into the base, same files as model/
      loss.png        the training loss curve
      logs/           tensorboard event files (report_to: tensorboard)
      .lock           the stage lock (codemix.core.locks): who is working here, empty when nobody is

While a run is unfinished, `train/checkpoints/` holds what resuming needs: run.json (the inputs
hash), tokenizer/ and base/ built at the start, and the trainer's `checkpoint-<step>/` (weights,
optimizer, scheduler, RNG state). It is removed when the run finishes.

manifest.json, contract keys: recipe_hash; mixture_hash (the mixture manifest's content_hash);
base_model {kind: hub|local|random, id, revision, commit, arch, model_type}; method;
prompt_format (chat_template|alpaca|magicoder|plain|custom, resolved); template (the custom
template string, else null); losses [{step, loss, learning_rate, grad_norm, ...}] every
logging_steps and at the last step; final_loss; tokens (non-padding input tokens trained on,
all processes); wall_s; outputs {file: {size, mtime_ns, sha256}} (what "up to date" checks).
Also: inputs_hash, recipe, seed, is_adapter, artifact, files, steps,
epochs, tokens_per_s, train_s, resumed_from_step, data (rows, truncated/dropped rows, tokens per
epoch), parameters, precision, packing, topology, package_versions, template_text, created.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemix.core.artifacts import MANIFEST_NAME, read_manifest
from codemix.core.errors import CodemixError
from codemix.core.progress import shown

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ARTIFACT_FULL = "model"
ARTIFACT_ADAPTER = "adapter"
RANDOM_BASE = "base"
MERGED = "merged"
LOSS_PLOT = "loss.png"
LOGS = "logs"
IN_PROGRESS = "checkpoints"


def _train_dir(path: str | Path) -> Path:
    p = Path(path)
    if (p / "manifest.json").is_file():
        return p
    if (p / "train" / "manifest.json").is_file():  # an experiment's output_dir
        return p / "train"
    if (p / IN_PROGRESS).is_dir():
        raise CodemixError(f"{p}: training has not finished (no manifest.json); re-run `codemix train` to resume")
    raise CodemixError(f"{p}: not a codemix training output (no manifest.json)")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The manifest of a finished run plus resolved absolute paths:
    `dir`, `model_dir` (model/ or adapter/), `tokenizer_dir`, `is_adapter`, `adapter_dir`,
    `base_path` (base/ for random init, else the Hub id or local path), `base_revision`,
    `merged_dir` (or None), `prompt_format`, `template`."""
    train_dir = _train_dir(path).resolve()
    manifest = read_manifest(train_dir)
    if manifest.get("stage") != "train":
        raise CodemixError(f"{train_dir}/manifest.json: not a training manifest (stage={manifest.get('stage')!r})")
    return resolve_paths(train_dir, manifest)


def resolve_paths(train_dir: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest plus the absolute paths of its parts (see read_checkpoint)."""
    info = dict(manifest)
    is_adapter = bool(manifest["is_adapter"])
    artifact = train_dir / (ARTIFACT_ADAPTER if is_adapter else ARTIFACT_FULL)
    if not artifact.is_dir():
        raise CodemixError(f"{train_dir}: manifest lists {artifact.name}/ but it is missing")
    base = manifest["base_model"]
    if base["kind"] == "random":
        base_path, base_revision = str(train_dir / RANDOM_BASE), None
    else:
        base_path, base_revision = base["id"], base.get("commit") or base.get("revision")
    merged = train_dir / MERGED
    info.update(dir=str(train_dir), model_dir=str(artifact), tokenizer_dir=str(artifact),
                adapter_dir=str(artifact) if is_adapter else None, base_path=base_path,
                base_revision=base_revision, merged_dir=str(merged) if merged.is_dir() else None)
    return info


def load_model(path: str | Path, device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None,
               merge: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model in eval mode, tokenizer) from a codemix checkpoint: the full model, or the base with
    the adapter applied (`merge=True` folds it in, faster for generation). dtype None: float32
    on CPU, bfloat16/float16 on GPU."""
    return load_resolved(read_checkpoint(path), device, dtype, merge)


def load_resolved(info: dict[str, Any], device: str | torch.device = "cpu", dtype: str | torch.dtype | None = None,
                  merge: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """load_model for the dict `read_checkpoint` / `resolve_paths` returns."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codemix.finetune.modeling import quiet_libraries

    quiet_libraries()
    device = torch.device(device)
    if dtype is None:
        dtype = default_dtype(device.type)
    elif isinstance(dtype, str):
        dtype = getattr(torch, {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}.get(dtype, dtype))
    tokenizer = AutoTokenizer.from_pretrained(info["tokenizer_dir"])
    if info["is_adapter"]:
        from peft import PeftModel

        trust = info.get("recipe", {}).get("train", {}).get("model", {}).get("trust_remote_code", False)
        if not Path(info["base_path"]).exists():
            from codemix.mixing.hub import require_hub

            require_hub(f"{info['dir']}: the adapter's base model {info['base_path']!r}",
                        "run where the Hub is reachable, or once online so the base model is in the local cache",
                        repo_id=info["base_path"])
        try:
            base = AutoModelForCausalLM.from_pretrained(info["base_path"], revision=info["base_revision"],
                                                        dtype=dtype, trust_remote_code=trust)
        except OSError as e:
            raise CodemixError(f"{info['dir']}: cannot load the adapter's base model {info['base_path']!r}: "
                               f"{str(e).strip().splitlines()[0]}") from None
        model = PeftModel.from_pretrained(base, info["adapter_dir"])
        if merge:
            model = model.merge_and_unload()
    else:
        model = AutoModelForCausalLM.from_pretrained(info["model_dir"], dtype=dtype)
    return model.to(device).eval(), tokenizer


def default_dtype(device_type: str) -> torch.dtype:
    """bf16 (fp16 without bf16 support) on a GPU; fp32 on CPU, where bf16 matmuls were measured
    ~12x slower than fp32 (2-core x86 without AMX)."""
    import torch

    if device_type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def inference_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


# ---------------------------------------------------------------- any model to score

@dataclass(frozen=True)
class ModelRef:
    """A model to generate with, classified: `checkpoint` is the codemix training manifest (with
    resolved paths, see read_checkpoint) when `ref` is a codemix run, else None. `note`: what
    `ref` turned out to be when that is not what it looks like (a folder inside a checkpoint)."""
    ref: str
    adapter: str | None
    checkpoint: dict[str, Any] | None
    note: str | None = None


# The folders of a finished training output that hold weights (see the layout above).
WEIGHT_FOLDERS = (ARTIFACT_FULL, ARTIFACT_ADAPTER, MERGED, RANDOM_BASE)


def enclosing_checkpoint(path: str | Path) -> Path | None:
    """The training output whose weights folder `path` is (train/model, train/adapter,
    train/merged or train/base of a finished run), else None."""
    p = Path(path)
    if p.name not in WEIGHT_FOLDERS or not (p.parent / MANIFEST_NAME).is_file():
        return None
    manifest = read_manifest(p.parent)
    return p.parent if manifest is not None and manifest.get("stage") == "train" else None


def checkpoint_dir(path: str | Path) -> Path | None:
    """The training output that `path` names or holds the trained weights of: a train dir, an
    experiment's output_dir, or its model/, adapter/ or merged/ folder (not base/: the
    untrained start). None for anything else."""
    p = Path(path)
    if not p.is_dir():
        return None
    inside = enclosing_checkpoint(p)
    if inside is not None:
        return inside if p.name != RANDOM_BASE else None
    for candidate in (p, p / "train"):
        manifest = read_manifest(candidate) if (candidate / MANIFEST_NAME).is_file() else None
        if manifest is not None and manifest.get("stage") == "train":
            return candidate
    return None


def is_trained_model(model_ref: str, adapter: str | None = None) -> bool:
    """Whether `codemix eval MODEL` scores a fine-tuned model (`trained` in its table) rather
    than a base model: a codemix checkpoint in any of its spellings, or any model plus an adapter."""
    return adapter is not None or checkpoint_dir(Path(model_ref).expanduser()) is not None


def model_directory_problem(path: Path) -> str | None:
    """Why `path` (an existing directory) is not something a model can be loaded from, or None.
    The one check of a model directory: `codemix eval` and the generators both call it."""
    if (path / MANIFEST_NAME).is_file() or (path / "train" / MANIFEST_NAME).is_file():
        return None
    if (path / "adapter_config.json").is_file():
        return (f"{path}: is an adapter, not a model; pass its base model as the model and this "
                "directory as the adapter (--adapter)")
    if (path / "config.json").is_file():
        return None
    unfinished = [p.name for p in (path / IN_PROGRESS, path / "train" / IN_PROGRESS) if p.is_dir()]
    unfinished += sorted(p.name for p in path.glob("checkpoint-*") if p.is_dir())[:3]
    hint = (f"; it holds {', '.join(unfinished)}: training did not finish, run `codemix train` again "
            "to resume it") if unfinished else ""
    return f"{path}: neither a codemix checkpoint (no {MANIFEST_NAME}) nor a model directory (no config.json){hint}"


def looks_like_hub_id(ref: str) -> bool:
    """`owner/name` or `name`, not a path: what `resolve_model` accepts when no directory exists."""
    return not ref.startswith((".", "/", "~")) and ref.count("/") <= 1 and "\\" not in ref and bool(ref.strip())


def resolve_model(model_ref: str, adapter: str | None = None) -> ModelRef:
    """Classify `model_ref`: a codemix checkpoint (a train dir or an experiment's output_dir), a
    model directory (config.json) or a Hub id; say precisely what is wrong otherwise."""
    path = Path(model_ref).expanduser()
    checkpoint, note = None, None
    inside = enclosing_checkpoint(path) if path.is_dir() else None
    if inside is not None and path.name != RANDOM_BASE:
        # model/ loads as a plain model directory, but scored as one it would get completion
        # prompts while the checkpoint was trained on instructions in its prompt format (measured:
        # 0% where the run directory scored 100% on the same tasks). Scored as the checkpoint.
        checkpoint = read_checkpoint(inside)
        note = (f"{shown(path)} is the {path.name}/ folder of the codemix checkpoint {shown(inside)}: scored as "
                f"that checkpoint (pass {shown(inside)} itself next time)")
    elif inside is not None:
        note = f"{shown(path)} is the untrained starting model of the codemix checkpoint {shown(inside)}"
    if checkpoint is None and path.exists():
        if not path.is_dir():
            raise CodemixError(f"{path}: is a file; expected a codemix checkpoint or model directory")
        problem = model_directory_problem(path)
        if problem:
            raise CodemixError(problem)
        if (path / MANIFEST_NAME).is_file() or (path / "train" / MANIFEST_NAME).is_file():
            checkpoint = read_checkpoint(path)
    elif checkpoint is None and not looks_like_hub_id(model_ref):
        raise CodemixError(f"{model_ref}: no such directory (and not a Hub id of the form owner/name)")
    if adapter is not None:
        if checkpoint is not None:
            raise CodemixError(f"{model_ref} is a codemix checkpoint (it names its own base model and adapter); "
                               "do not pass an adapter with it")
        if not (Path(adapter).expanduser() / "adapter_config.json").is_file():
            raise CodemixError(f"{adapter}: not a peft adapter directory (no adapter_config.json)")
    if not path.exists():  # a Hub id: local checks first, then whether the Hub can be reached at all
        from codemix.mixing.hub import require_hub

        require_hub(f"model {model_ref!r} (not a local directory)",
                    "pass a local model directory or a codemix checkpoint", repo_id=model_ref)
    return ModelRef(model_ref, adapter, checkpoint, note)


def load_for_inference(model: ModelRef) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """(model in eval mode, tokenizer) on the best device in its default dtype. A codemix LoRA
    checkpoint is merged: the same function, without the extra adapter matmuls and peft's
    per-module overhead at every decoding step."""
    device = inference_device()
    dtype = default_dtype(device)
    if model.checkpoint is not None:
        return load_resolved(model.checkpoint, device=device, dtype=dtype, merge=True)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from codemix.finetune.modeling import quiet_libraries

    quiet_libraries()
    try:
        tokenizer = AutoTokenizer.from_pretrained(model.ref)
        loaded = AutoModelForCausalLM.from_pretrained(model.ref, dtype=dtype).to(device)
        if model.adapter:
            from peft import PeftModel

            loaded = PeftModel.from_pretrained(loaded, model.adapter)
    except (OSError, ValueError) as e:  # missing files; a config or tokenizer transformers cannot read
        raise CodemixError(f"could not load model {model.ref}"
                           f"{' with adapter ' + model.adapter if model.adapter else ''}: "
                           f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    return loaded.eval(), tokenizer


def checkpoint_paths(path: str | Path, info: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a server that takes base + adapter separately (vLLM) needs: {model, revision,
    tokenizer, adapter}; for a full fine-tune `model` is the trained model and `adapter` None."""
    info = info if info is not None else read_checkpoint(path)
    if info["is_adapter"]:
        return {"model": info["base_path"], "revision": info["base_revision"],
                "tokenizer": info["tokenizer_dir"], "adapter": info["adapter_dir"]}
    return {"model": info["model_dir"], "revision": None, "tokenizer": info["tokenizer_dir"], "adapter": None}


def base_model_ref(path: str | Path) -> str:
    """The untrained starting model of a checkpoint, as a model reference (directory or Hub id)
    for scoring it as a reference: base/ for random init, else the id or path trained from."""
    return read_checkpoint(path)["base_path"]


def listed_files(train_dir: Path) -> list[str]:
    """Every file under a training output, relative, sorted (what the manifest's `files` lists)."""
    return sorted(str(p.relative_to(train_dir)) for p in train_dir.rglob("*")
                  if p.is_file() and p.name != "manifest.json" and not p.name.startswith("."))


def checkpoint_problem(path: Path) -> str | None:
    """Why a trainer checkpoint directory cannot be resumed from (None: its files read back).
    Cheap structural checks, no tensors loaded: a safetensors header must cover the file (a
    truncated file fails: "incomplete metadata, file not fully covered"), torch's .pt/.pth/.bin
    files are zip archives whose central directory sits at the end (a cut file has none), and
    trainer_state.json must parse."""
    import json
    import zipfile

    from safetensors import SafetensorError, safe_open

    for f in sorted(p for p in Path(path).iterdir() if p.is_file()):
        try:
            if f.suffix == ".safetensors":
                with safe_open(str(f), "pt"):
                    pass
            elif f.suffix in (".pt", ".pth", ".bin"):
                zipfile.ZipFile(f).close()
            elif f.name == "trainer_state.json":
                json.loads(f.read_text(encoding="utf-8"))
        except (SafetensorError, zipfile.BadZipFile, ValueError, OSError) as e:
            return f"{f.name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    return None


def plot_losses(losses: list[dict], out: Path, title: str) -> None:
    """loss.png: training loss against optimizer step (see draw_losses)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from codemix.core.artifacts import atomic_path

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    draw_losses(ax, losses, title)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def draw_losses(ax, losses: list[dict], title: str) -> None:
    """The loss curve on a log axis: a from-scratch loss falls from ~6 to below 0.1, and on a
    linear axis everything after the first few hundred steps is a flat line at the bottom. (A
    loss of exactly 0 has no place on a log axis: then the axis stays linear.)"""
    ax.plot([p["step"] for p in losses], [p["loss"] for p in losses], marker="." if len(losses) < 50 else None)
    ax.set_xlabel("optimizer step")
    if all(p["loss"] > 0 for p in losses):
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 0.1, not 10^-1
    ax.set_ylabel("training loss (completion tokens" + (", log scale)" if ax.get_yscale() == "log" else ")"))
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
