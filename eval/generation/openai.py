"""The OpenAI-compatible backend: generate through a server (vLLM's, SGLang's or TGI's
OpenAI-compatible server, a hosted API) with the same prompts, stops and files as `hf` and `vllm`.

Endpoints: a completion-style prompt (or an instruction in a fixed format such as alpaca) goes to
`completions` as text; an instruction whose format is the model's chat template goes to
`chat/completions` as one user turn, and the server applies its template. The server tokenizes
either way. A local tokenizer (the model directory, `tokenizer:` or a codemix checkpoint's) is
used for what must be known here: the prompt text recorded in prompts.jsonl, the context
budget, and which style `auto` picks; without one the server's chat template is trusted and
nothing is counted here (`ServerTokenizer`).

Samples: the consecutive samples of a task go out as one request with `n` (at most
SAMPLES_PER_REQUEST) and the seed of its first sample; a server that answers with fewer choices
than asked gets the rest one per request. Finished requests are appended as they come back, so
a killed run resumes without asking for a stored sample again, with the requests (first sample,
n, seed) the uninterrupted run made and so its samples; only a kill that cuts one request's
samples in the middle of their write makes the rest of that task come from other requests.

Requests: CONCURRENCY in flight (threads over one HTTP connection pool); a 429, a 5xx, a
timeout or a dropped connection is retried with exponential backoff and seeded jitter, waiting
at least what a Retry-After header asks; 401/403/404 stop the run at once with one line. The
client's own retries are switched off (max_retries=0): they are invisible to the caller (the
manifest counts retries by cause), draw unseeded jitter, and stop after 2 retries 0.5 s and 1 s
apart, too few to ride out a server restart. The API key is read from the environment only and
is masked in every message built from a server's answer.
"""

from __future__ import annotations

import importlib.util
import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemix.core.errors import CodemixError
from codemix.core.progress import shown
from codemix.eval.generation.backend import Backend, Generation, Request, register_backend
from codemix.eval.generation.extract import truncate_at_stop

if TYPE_CHECKING:
    from codemix.finetune.checkpoint import ModelRef

# Sent when no key is configured: local servers ignore it, and the client refuses an empty one.
NO_KEY = "EMPTY"
# 16 requests in flight: enough for a local server's batcher to fill (the test server on 2 CPU
# cores serves 16 concurrent requests at ~6x the samples/s of one at a time, speed/
# generate_speed.py) without queueing hundreds on a hosted API's rate limit.
DEFAULT_CONCURRENCY = 16
DEFAULT_REQUEST_TIMEOUT_S = 300.0  # 512 new tokens at 16 sequences on a loaded 7B GPU server take ~60 s
DEFAULT_MAX_RETRIES = 6
BACKOFF_BASE_S = 1.0      # waits of 1, 2, 4, ... s (each jittered down to half): 6 retries span ~32-63 s,
BACKOFF_CAP_S = 60.0      # long enough to ride out a server restart
MAX_RETRY_AFTER_S = 600.0  # a server asking for a longer pause stops the run (resumable) instead
SAMPLES_PER_REQUEST = 16
# OpenAI's own API (and TGI by default) refuse more than 4 stop sequences; a server that says so
# is sent the first 4, and the rest are cut here (truncate_at_stop) with the same text.
STOP_LIMIT_FALLBACK = 4
RETRIED_STATUS = (408, 409, 429)  # and every 5xx


class ServerTokenizer:
    """What the prompt code needs of a tokenizer when only the server has one: prompts are text,
    nothing is counted here (no context budget), and the chat template is the server's, so an
    instruction "rendered" with it is the instruction itself (the chat endpoint gets it as a
    user turn)."""
    chat_template = "the server's"
    bos_token = bos_token_id = eos_token = eos_token_id = pad_token_id = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": []}

    def apply_chat_template(self, messages: list[dict[str, str]], *, tokenize: bool = False,
                            add_generation_prompt: bool = True) -> str:
        return messages[-1]["content"]


@dataclass(frozen=True)
class Block:
    """Consecutive samples of one prompt, asked for in one request (`n` = len(indices))."""
    indices: tuple[int, ...]
    request: Request


def plan_blocks(requests: Sequence[Request], per_request: int) -> list[Block]:
    """Runs of consecutive requests with the same prompt and limits, cut at `per_request`. The
    run plans requests task by task in sample order, so a task's samples come out as one run."""
    blocks: list[Block] = []
    start = 0
    for i in range(1, len(requests) + 1):
        r = requests[start]
        same = (i < len(requests) and i - start < per_request and requests[i].prompt == r.prompt
                and requests[i].instruction == r.instruction and requests[i].stops == r.stops
                and requests[i].max_new_tokens == r.max_new_tokens)
        if not same:
            blocks.append(Block(tuple(range(start, i)), r))
            start = i
    return blocks


def retry_after_seconds(headers: Any) -> float | None:
    """Retry-After (seconds or an HTTP date) or retry-after-ms, in seconds; None when absent."""
    if headers is None:
        return None
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def backoff_delay(retry: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds before retry number `retry` (0-based): exponential, jittered into its upper half
    so clients that failed together do not return together, and never shorter than Retry-After."""
    step = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** retry)
    jittered = step * (0.5 + 0.5 * rng.random())
    return max(jittered, retry_after) if retry_after is not None else jittered


class RequestStats:
    """Counts shared by the request threads: for the manifest, and for the tests."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = self.prompt_tokens = self.completion_tokens = 0
        self.retries: dict[str, int] = {}
        self.latencies: list[float] = []
        self.endpoints: set[str] = set()
        self.ignored_n = False

    def success(self, endpoint: str, seconds: float, usage: Any) -> None:
        with self.lock:
            self.requests += 1
            self.latencies.append(seconds)
            self.endpoints.add(endpoint)
            if usage is not None:
                self.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
                self.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)

    def retry(self, cause: str) -> None:
        with self.lock:
            self.retries[cause] = self.retries.get(cause, 0) + 1

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def quantile(q: float) -> float | None:  # nearest rank
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3) if ordered else None

        return {"endpoints": sorted(self.endpoints), "requests": self.requests,
                "retries": sum(self.retries.values()), "retries_by_cause": dict(sorted(self.retries.items())),
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "latency_s": {"p50": quantile(0.5), "p90": quantile(0.9), "p99": quantile(0.99),
                              "max": round(ordered[-1], 3) if ordered else None},
                "server_ignored_n": self.ignored_n}


class _Stopped(Exception):
    """A request thread gives up because the run is stopping (another request failed)."""


class OpenAIBackend(Backend):
    """A model served over the OpenAI API at `base_url`; the model reference is the name the
    server serves it under."""
    name = "openai"

    @classmethod
    def check_available(cls) -> None:
        if importlib.util.find_spec("openai") is None:
            raise CodemixError("backend: openai needs the openai package, which is not installed (pip install openai)")

    @classmethod
    def resolve(cls, model_ref: str, adapter: str | None) -> ModelRef:
        from codemix.finetune.checkpoint import ModelRef, checkpoint_dir, read_checkpoint

        if adapter is not None:
            raise CodemixError("eval.adapter: the openai backend scores what the server serves; serve the adapter "
                               "there (vLLM: --lora-modules NAME=PATH) and pass NAME as the model")
        if not str(model_ref).strip():
            raise CodemixError("eval.model: the name the server serves the model under is empty")
        train_dir = checkpoint_dir(Path(model_ref).expanduser())
        return ModelRef(str(model_ref), None, read_checkpoint(train_dir) if train_dir is not None else None)

    # ---------------------------------------------------------------- set-up

    def load(self, model_ref: ModelRef, *, seed: int) -> None:
        opts = self.options
        if not opts.get("base_url"):
            raise CodemixError("eval.base_url: the openai backend needs the server's API root "
                               "(--base-url http://127.0.0.1:8000/v1)")
        self.base_url = str(opts["base_url"]).rstrip("/")
        self.model = model_ref.ref
        self.seed = seed
        self.concurrency = int(opts.get("concurrency") or DEFAULT_CONCURRENCY)
        self.timeout = float(opts.get("request_timeout") or DEFAULT_REQUEST_TIMEOUT_S)
        self.max_retries = int(opts["max_retries"]) if opts.get("max_retries") is not None else DEFAULT_MAX_RETRIES
        # Only a variable named for this server: OPENAI_API_KEY, set for OpenAI, is not sent to
        # whatever base_url is given (the client library would send it by default).
        self.key_env = opts.get("api_key_env")
        key = os.environ.get(self.key_env, "") if self.key_env else NO_KEY
        if not key:
            raise CodemixError(f"eval.api_key_env: the environment variable {self.key_env} is not set "
                               "(it should hold the server's API key)")
        self._key = key
        self.stats = RequestStats()
        self.stop_limit: int | None = None
        self.eos_ids = []  # the server ends samples with its own end-of-sequence tokens
        self._load_tokenizer(model_ref)
        self._check_served()

    def _load_tokenizer(self, model_ref: ModelRef) -> None:
        source = self.options.get("tokenizer")
        if source is None and model_ref.checkpoint is not None:
            source = model_ref.checkpoint.get("tokenizer_dir")
        if source is None and Path(model_ref.ref).expanduser().is_dir():
            source = model_ref.ref
        self.tokenizer_source = str(source) if source is not None else None
        self.max_context = None
        if source is None:
            self.tokenizer = ServerTokenizer()
            return
        from transformers import AutoConfig, AutoTokenizer

        from codemix.eval.generation.prompts import context_length
        from codemix.finetune.modeling import quiet_libraries

        quiet_libraries()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as e:
            raise CodemixError(f"eval.tokenizer: could not load a tokenizer from {source}: "
                               f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        try:
            self.max_context = context_length(AutoConfig.from_pretrained(source))
        except (OSError, ValueError):  # a tokenizer-only folder: the server's limit is unknown here
            self.max_context = None

    def _client(self):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=self._key, max_retries=0, timeout=self.timeout)

    def _check_served(self) -> None:
        """Fail before any prompt is built when the server is down, refuses the key or does not
        serve the model (a server without a model list is given the benefit of the doubt)."""
        import openai

        client = self._client()
        try:
            served = [m.id for m in client.models.list()]
        except openai.APIConnectionError as e:
            raise CodemixError(f"eval.base_url: cannot reach {self.base_url} ({self._cause(e)}); is the server "
                               "running?") from None
        except openai.APIStatusError as e:
            if e.status_code in (401, 403):
                raise CodemixError(self._refused(e)) from None
            return
        finally:
            client.close()
        if served and self.model not in served:
            raise CodemixError(f"eval.model: {self.base_url} does not serve {self.model!r}; it serves "
                               f"{', '.join(repr(m) for m in served[:8])}{' ...' if len(served) > 8 else ''}")

    def choose_prompt_style(self, prompt_style: str, model_ref: ModelRef) -> tuple[str, str]:
        real = not isinstance(self.tokenizer, ServerTokenizer)
        where = f"the tokenizer of {shown(self.tokenizer_source)}" if real else "no local tokenizer"
        if prompt_style != "auto":
            return prompt_style, f"as asked (prompt_style: {prompt_style}); {where}"
        if model_ref.checkpoint is not None:
            return "instruction", (f"{model_ref.ref} is a codemix checkpoint, trained on instructions in this format "
                                   "(prompt_style auto)")
        if real and getattr(self.tokenizer, "chat_template", None):
            return "instruction", (f"{where} has a chat template, so {self.model} is taken for an instruction model: "
                                   "chat/completions (prompt_style auto)")
        if real:
            return "completion", (f"{where} has no chat template, so {self.model} is taken for a base model: "
                                  "completions (prompt_style auto)")
        return "instruction", (f"{where} to read a chat template from (set --tokenizer), so {self.model} is taken for "
                               "an instruction model: chat/completions with the server's template (prompt_style "
                               "auto); pass --prompt-style completion for a base model")

    # ---------------------------------------------------------------- generation

    def generate(self, requests, *, batch_size, temperature, top_p, on_batch) -> int:
        self._stop = threading.Event()
        self._client_now = self._client()
        pending: dict[Any, Block] = {}
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="codemix-openai")
        params = {"temperature": temperature, "top_p": top_p}
        try:
            for block in plan_blocks(requests, SAMPLES_PER_REQUEST):
                pending[pool.submit(self._complete, block, params)] = block
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    block = pending.pop(future)
                    gens = future.result()
                    on_batch(list(block.indices[:len(gens)]), gens)
                    for i in block.indices[len(gens):]:  # the server gave fewer choices than n
                        single = Block((i,), requests[i])
                        pending[pool.submit(self._complete, single, params)] = single
        finally:
            self._stop.set()
            self._client_now.close()  # in-flight requests end now instead of at their timeout
            pool.shutdown(wait=True, cancel_futures=True)
        return batch_size

    def _complete(self, block: Block, params: dict[str, float]) -> list[Generation]:
        import openai

        rng = random.Random(block.request.seed ^ 0x6A177E2)  # the same waits in every run of this request
        failures = 0
        while True:
            if self._stop.is_set():
                raise _Stopped
            started = time.perf_counter()
            retry_after, limited = None, self.stop_limit is not None
            try:
                endpoint, response = self._send(block, params)
            except openai.APIStatusError as e:
                status = e.status_code
                if status in (401, 403):
                    raise CodemixError(self._refused(e)) from None
                if status == 404:
                    raise CodemixError(f"{self.base_url}: 404 for model {self.model!r} ({self._cause(e)}); check the "
                                       "model name and that --base-url is the API root (it usually ends in /v1)") from None
                if status in (400, 422) and not limited and "stop" in self._cause(e).lower() \
                        and len(block.request.stops) > STOP_LIMIT_FALLBACK:
                    self.stop_limit = STOP_LIMIT_FALLBACK  # for every request from now on (several may be here)
                    continue
                if status not in RETRIED_STATUS and status < 500:
                    raise CodemixError(f"{self.base_url}: the server refused a request ({status}: {self._cause(e)})") from None
                cause = "rate_limited" if status == 429 else "server_error"
                retry_after = retry_after_seconds(e.response.headers)
                what = f"{status}: {self._cause(e)}"
            except openai.APITimeoutError:
                cause, what = "timeout", f"no answer within {self.timeout:g} s"
            except openai.APIConnectionError as e:
                if self._stop.is_set():
                    raise _Stopped from None
                cause, what = "connection", self._cause(e)
            else:
                self.stats.success(endpoint, time.perf_counter() - started, getattr(response, "usage", None))
                return self._generations(block, response, endpoint)
            if failures >= self.max_retries:
                raise CodemixError(f"{self.base_url}: a request failed {failures + 1} times (last: {what}); the "
                                   "samples written so far are kept and a new run resumes after them")
            if retry_after is not None and retry_after > MAX_RETRY_AFTER_S:
                raise CodemixError(f"{self.base_url}: the server asks to wait {retry_after:.0f} s (Retry-After); the "
                                   "samples written so far are kept, run again later to resume")
            self.stats.retry(cause)
            self._stop.wait(backoff_delay(failures, retry_after, rng))
            failures += 1

    def _send(self, block: Block, params: dict[str, float]) -> tuple[str, Any]:
        r = block.request
        greedy = params["temperature"] == 0
        stops = list(r.stops[: self.stop_limit] if self.stop_limit else r.stops)
        common: dict[str, Any] = {"model": self.model, "n": len(block.indices), "max_tokens": r.max_new_tokens,
                                  "temperature": params["temperature"], "top_p": 1.0 if greedy else params["top_p"]}
        if not greedy:
            common["seed"] = r.seed
        if stops:
            common["stop"] = stops
        client = self._client_now
        if r.instruction is not None:
            messages = [{"role": "user", "content": r.instruction}]
            return "chat/completions", client.chat.completions.create(messages=messages, **common)
        return "completions", client.completions.create(prompt=self._prompt_text(r), **common)

    def _prompt_text(self, r: Request) -> str:
        """The prompt as the server should get it: a format that writes the BOS text itself
        (alpaca for a Llama tokenizer) would get a second BOS from a server that adds one."""
        bos = getattr(self.tokenizer, "bos_token", None)
        if bos and r.prompt.startswith(bos):
            adds_bos = self.tokenizer("a", add_special_tokens=True)["input_ids"][:1] == [self.tokenizer.bos_token_id]
            if adds_bos:
                return r.prompt[len(bos):]
        return r.prompt

    def _generations(self, block: Block, response: Any, endpoint: str) -> list[Generation]:
        choices = sorted(response.choices, key=lambda c: c.index)[: len(block.indices)]
        if len(choices) < len(block.indices):
            self.stats.ignored_n = True
        texts = [(c.message.content or "") if endpoint == "chat/completions" else (c.text or "") for c in choices]
        usage = getattr(response, "usage", None)
        counted = int(getattr(usage, "completion_tokens", 0) or 0)
        gens = []
        for choice, text in zip(choices, texts, strict=True):
            # vLLM names the stop sequence that ended a choice (and leaves it out of the text);
            # with it, raw is what the HF backend records. Other servers say only "stop".
            stop_reason = getattr(choice, "stop_reason", None)
            raw = text + stop_reason if isinstance(stop_reason, str) else text
            cut, stop = truncate_at_stop(raw, block.request.stops)
            if stop is not None or isinstance(stop_reason, str):
                finish = "stop"
            else:
                finish = "length" if choice.finish_reason == "length" else "eos"
            if len(choices) == 1 and counted:
                n_tokens = counted
            elif not isinstance(self.tokenizer, ServerTokenizer):
                n_tokens = len(self.tokenizer(raw, add_special_tokens=False)["input_ids"]) + (finish == "eos")
            else:  # the request's total shared by length
                n_tokens = round(counted * len(raw) / max(1, sum(len(t) for t in texts)))
            gens.append(Generation(text=cut, raw=raw, finish=finish, n_tokens=n_tokens))
        return gens

    # ---------------------------------------------------------------- reporting

    def _cause(self, e: Exception) -> str:
        """One line from a server's error, with the key masked (a server may echo what it got)."""
        body = getattr(e, "body", None)
        message = None
        if isinstance(body, dict):
            inner = body.get("error", body)
            message = inner.get("message") if isinstance(inner, dict) else inner
        text = str(message or getattr(e, "message", None) or type(e).__name__)
        text = (text.splitlines() or [type(e).__name__])[0][:300]
        return text.replace(self._key, "***") if self._key != NO_KEY else text

    def _refused(self, e: Any) -> str:
        where = f"the key in ${self.key_env}" if self.key_env else "no key (name the variable holding one: --api-key-env)"
        return f"{self.base_url}: refused {where} ({e.status_code}: {self._cause(e)})"

    def usage(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "model": self.model, "api_key_env": self.key_env,
                "tokenizer": self.tokenizer_source, "concurrency": self.concurrency,
                "request_timeout_s": self.timeout, "max_retries": self.max_retries,
                "samples_per_request": SAMPLES_PER_REQUEST, "stop_limit": self.stop_limit, **self.stats.summary()}


register_backend(OpenAIBackend)
