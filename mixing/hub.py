"""Can the Hugging Face Hub be reached? One answer, asked before anything reaches for it.

Offline, the libraries retry before failing: a Hub model or MBPP from the Hub took 23-54 s to
fail on a machine without network, and `datasets` alone costs ~6 s to import before it even
notices `HF_HUB_OFFLINE=1`. Every codemix path that reaches for the Hub (decontamination's MBPP,
Hub datasets as mixture sources, Hub models, benchmark problems) asks `require_hub` first, which
answers at once and always with the same message:

- `HF_HUB_OFFLINE=1` (or `HF_DATASETS_OFFLINE` / `TRANSFORMERS_OFFLINE`) set: unreachable, unless
  the repository is already in the local cache (then the library reads it from there);
- else the Hub's host is resolved once per process (`socket.getaddrinfo`, given at most
  RESOLVE_TIMEOUT_S); a host that cannot be resolved means unreachable, cache as above.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import urlparse

from codemix.core.errors import CodemixError

RESOLVE_TIMEOUT_S = 2.0  # a working resolver answers in < 50 ms; a missing one can hang ~20 s
OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
_resolved: dict[str, str | None] = {}


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def hub_host() -> str:
    return urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"


def resolve_host(host: str) -> str | None:
    """None when `host` resolves within RESOLVE_TIMEOUT_S, else why not (cached per process)."""
    if host in _resolved:
        return _resolved[host]
    import socket

    outcome: list[str | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
            outcome.append(None)
        except OSError as e:
            outcome.append(f"{host} cannot be resolved ({e.strerror or e})")

    thread = threading.Thread(target=lookup, daemon=True)  # getaddrinfo has no timeout of its own
    thread.start()
    thread.join(RESOLVE_TIMEOUT_S)
    _resolved[host] = outcome[0] if outcome else f"{host} did not resolve within {RESOLVE_TIMEOUT_S:g} s"
    return _resolved[host]


def hub_unavailable() -> str | None:
    """Why the Hub cannot be reached from this process, or None when it (probably) can."""
    for var in OFFLINE_VARS:
        if _truthy(os.environ.get(var)):
            return f"{var}={os.environ[var]} is set"
    return resolve_host(hub_host())


def _hf_home() -> Path:
    return Path(os.environ.get("HF_HOME") or Path.home() / ".cache" / "huggingface").expanduser()


def in_local_cache(repo_id: str, repo_type: str = "model") -> bool:
    """Whether `repo_id` has been downloaded before (so an offline library can still load it)."""
    hub_cache = Path(os.environ.get("HF_HUB_CACHE") or _hf_home() / "hub").expanduser()
    folder = f"{repo_type}s--{repo_id.replace('/', '--')}"
    if (hub_cache / folder / "snapshots").is_dir():
        return True
    if repo_type == "dataset":  # datasets' own processed cache: <owner>___<name>
        ds_cache = Path(os.environ.get("HF_DATASETS_CACHE") or _hf_home() / "datasets").expanduser()
        return (ds_cache / repo_id.replace("/", "___")).is_dir()
    return False


def require_hub(what: str, fix: str, *, repo_id: str | None = None, repo_type: str = "model") -> None:
    """Raise the one clear error when `what` needs the Hub and it cannot be reached; `fix` says
    what to do instead (the flag or recipe key that takes a local copy). A repository already in
    the local cache passes: the library reads it from there."""
    reason = hub_unavailable()
    if reason is None:
        return
    if repo_id is not None and in_local_cache(repo_id, repo_type):
        # Cached: let the library read the cache without its own network retries (read at
        # import time, so this helps whenever the library is not imported yet).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return
    raise CodemixError(f"{what} needs the Hugging Face Hub, which cannot be reached ({reason}); {fix}")
