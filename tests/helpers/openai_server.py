"""An OpenAI-compatible server over codemix's HF generation, for the openai backend's tests and
speed/generate_speed.py: `/v1/completions`, `/v1/chat/completions` (with `n`, `seed`, `stop`,
`max_tokens`, `temperature`, `top_p`) and `/v1/models`, on 127.0.0.1 only.

It behaves as vLLM's server does where the client can tell: the prompt is tokenized here
(completions with the tokenizer's special tokens, chat through the tokenizer's chat template), a
choice's text stops before its stop sequence and `stop_reason` names it, usage counts tokens.
Requests that arrive together are generated as one batch (`generate_batch`, whose rows do not
depend on each other), so concurrent requests overlap as on a real server.

Faults for the retry tests, on a seeded schedule over the order requests arrive in: a 429 with
Retry-After, a 500, a connection dropped without an answer, and an answer slower than the
client's timeout (`--faults N`: N of each kind, or `arm_faults` on a running server). It can
also act as a server that ignores `n` or refuses more than a few stop sequences (`configure`).
`GET /stats` reports what was served.

The standard library's ThreadingHTTPServer, not FastAPI/uvicorn: nothing to install for the
tests, and a dropped connection is a socket shutdown in the handler. Run as a script (a
subprocess that exits when its parent closes its stdin); `serve()` starts and stops one.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import queue
import random
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FAULT_KINDS = ("rate_limit", "server_error", "drop", "slow")
RETRY_AFTER_S = 1  # the smallest whole-second Retry-After: the 429 test waits it out once
BATCH_WINDOW_S = 0.005  # how long the batcher waits for more requests after the first
MAX_BATCH_ROWS = 64


@dataclass
class Job:
    rows: list  # codemix Request objects, one per choice
    temperature: float
    top_p: float
    done: threading.Event = field(default_factory=threading.Event)
    result: list | None = None
    error: BaseException | None = None


class Engine:
    """The model, and a thread that generates whatever requests are waiting as one batch."""

    def __init__(self, model_dir: str) -> None:
        from codemix.eval.generation.prompts import end_of_sequence_ids
        from codemix.finetune.checkpoint import ModelRef, load_for_inference

        self.model, self.tokenizer = load_for_inference(ModelRef(model_dir, None, None))
        self.eos_ids = end_of_sequence_ids(self.tokenizer, self.model.generation_config, self.model.config)
        self.queue: queue.Queue[Job] = queue.Queue()
        threading.Thread(target=self._loop, daemon=True, name="batcher").start()

    def generate(self, rows: list, temperature: float, top_p: float) -> list:
        job = Job(rows, temperature, top_p)
        self.queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result

    def _loop(self) -> None:
        from codemix.eval.generation.hf import generate_batch

        while True:
            jobs = [self.queue.get()]
            deadline = time.monotonic() + BATCH_WINDOW_S
            while sum(len(j.rows) for j in jobs) < MAX_BATCH_ROWS and time.monotonic() < deadline:
                try:
                    jobs.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            groups: dict[tuple, list[Job]] = {}
            for job in jobs:  # one sampling setting per generate_batch call
                groups.setdefault((job.temperature, job.top_p if job.temperature > 0 else 1.0), []).append(job)
            for (temperature, top_p), group in groups.items():
                try:
                    gens = generate_batch(self.model, self.tokenizer, [r for j in group for r in j.rows],
                                          eos_ids=self.eos_ids, temperature=temperature, top_p=top_p)
                except BaseException as e:  # answered as a 500, the server goes on
                    for job in group:
                        job.error = e
                        job.done.set()
                    continue
                start = 0
                for job in group:
                    job.result = gens[start: start + len(job.rows)]
                    start += len(job.rows)
                    job.done.set()


class State:
    """Counters, the fault schedule and the settings the handlers share."""

    def __init__(self, args: argparse.Namespace, engine: Engine) -> None:
        self.engine, self.name, self.ignore_n, self.slow_s = engine, args.served_name or args.model, args.ignore_n, args.slow_s
        self.max_stops: int | None = None  # like OpenAI's API (4): more stop sequences are a 400
        self.key = os.environ.get(args.api_key_env) if args.api_key_env else None
        self.lock = threading.Lock()
        self.arrivals = self.served = self.in_flight = self.max_in_flight = 0
        self.faults: dict[str, int] = {}
        self.prompts: list[str] = []
        self.schedule: dict[int, str] = {}
        self.arm(args.faults, args.fault_seed, args.slow_s)

    def arm(self, per_kind: int, seed: int, slow_s: float) -> None:
        """Schedule `per_kind` faults of each kind over the arrivals from now on, spread over the
        next 2x as many: every fault fires once a run makes as many requests as there are
        faults (each fault adds one arrival, its retry)."""
        kinds = [k for k in FAULT_KINDS for _ in range(per_kind)]
        rng = random.Random(seed)
        rng.shuffle(kinds)
        with self.lock:
            positions = sorted(self.arrivals + i for i in rng.sample(range(2 * len(kinds)), len(kinds)))
            self.schedule = dict(zip(positions, kinds, strict=True))
            self.faults, self.slow_s = {}, slow_s

    def arrive(self) -> str | None:
        with self.lock:
            fault = self.schedule.get(self.arrivals)
            self.arrivals += 1
            if fault:
                self.faults[fault] = self.faults.get(fault, 0) + 1
            return fault

    def stats(self, reset_peak: bool = False) -> dict:
        with self.lock:
            out = {"arrivals": self.arrivals, "served": self.served, "faults": dict(self.faults),
                   "max_in_flight": self.max_in_flight, "prompts": list(self.prompts)}
            if reset_peak:
                self.max_in_flight = 0
            return out


def choice_seed(seed: int | None, index: int) -> int:
    """Choice 0 samples with the request's seed itself (a one-sample request with seed s is
    choice 0 of an n-sample request with seed s); the others with seeds derived from it."""
    if seed is None:
        return random.getrandbits(63)
    if index == 0:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}:{index}".encode()).digest()[:8], "little") >> 1


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers: the client pools connections
    state: State

    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        pass

    def _send_json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": "error", "code": status}}, headers)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.rstrip("/") == "/v1/models":
            if not self._authorized():
                return
            self._send_json(200, {"object": "list", "data": [{"id": self.state.name, "object": "model"}]})
        elif self.path in ("/stats", "/stats?reset_peak=1"):
            self._send_json(200, self.state.stats(reset_peak=self.path.endswith("=1")))
        else:
            self._error(404, f"no route {self.path}")

    def _authorized(self) -> bool:
        key = self.state.key
        given = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if key is not None and given != key:
            # Echoes what it got, as some servers do: the client must mask it.
            self._error(401, f"Incorrect API key provided: {given}")
            return False
        return True

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if self.path == "/faults":  # the tests' control: arm a fault schedule on a running server
            self.state.arm(int(body["per_kind"]), int(body.get("seed", 0)), float(body.get("slow_s", 5.0)))
            return self._send_json(200, {"armed": len(self.state.schedule)})
        if self.path == "/configure":  # the tests' control: behave like another server from now on
            self.state.ignore_n = bool(body.get("ignore_n", False))
            self.state.max_stops = body.get("max_stops")
            return self._send_json(200, {})
        chat = self.path.rstrip("/") == "/v1/chat/completions"
        if not chat and self.path.rstrip("/") != "/v1/completions":
            return self._error(404, f"no route {self.path}")
        if not self._authorized():
            return
        if body.get("model") != self.state.name:
            return self._error(404, f"The model `{body.get('model')}` does not exist.")
        stops = body.get("stop") or []
        if self.state.max_stops is not None and isinstance(stops, list) and len(stops) > self.state.max_stops:
            return self._error(400, f"'stop': at most {self.state.max_stops} stop sequences are allowed")
        fault = self.state.arrive()
        if fault == "rate_limit":
            return self._error(429, "rate limited", {"Retry-After": str(RETRY_AFTER_S)})
        if fault == "server_error":
            return self._error(500, "internal error (scheduled fault)")
        if fault == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            self.wfile = io.BytesIO()  # what the handler would still flush goes nowhere
            return
        with self.state.lock:
            self.state.in_flight += 1
            self.state.max_in_flight = max(self.state.max_in_flight, self.state.in_flight)
        try:
            answer = self._complete(body, chat)
        finally:
            with self.state.lock:
                self.state.in_flight -= 1
        if fault == "slow":
            time.sleep(self.state.slow_s)  # the client has given up by now; the answer goes nowhere
        else:
            with self.state.lock:
                self.state.served += 1
                self.state.prompts.append(body["messages"][-1]["content"] if chat else body["prompt"])
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._send_json(200, answer)

    def _complete(self, body: dict, chat: bool) -> dict:
        from codemix.eval.generation.backend import Request
        from codemix.eval.generation.extract import truncate_at_stop

        tok = self.state.engine.tokenizer
        if chat:
            text = tok.apply_chat_template(body["messages"], tokenize=False, add_generation_prompt=True)
            ids = tok(text, add_special_tokens=False)["input_ids"]
        else:
            ids = tok(body["prompt"])["input_ids"]
        stops = body.get("stop") or []
        stops = tuple([stops] if isinstance(stops, str) else stops)
        n = 1 if self.state.ignore_n else int(body.get("n") or 1)
        temperature = float(body.get("temperature", 1.0))
        rows = [Request(ids, choice_seed(body.get("seed"), j), int(body.get("max_tokens") or 16), stops)
                for j in range(n)]
        gens = self.state.engine.generate(rows, temperature, float(body.get("top_p", 1.0)))
        choices = []
        for j, g in enumerate(gens):
            text, stop = truncate_at_stop(g.raw, stops)
            finish = "length" if g.finish == "length" and stop is None else "stop"
            choice = {"index": j, "finish_reason": finish, "stop_reason": stop, "logprobs": None}
            choice.update({"message": {"role": "assistant", "content": text}} if chat else {"text": text})
            choices.append(choice)
        completion_tokens = sum(g.n_tokens for g in gens)
        return {"id": f"cmpl-{os.urandom(6).hex()}", "object": "chat.completion" if chat else "text_completion",
                "created": int(time.time()), "model": self.state.name, "choices": choices,
                "usage": {"prompt_tokens": len(ids), "completion_tokens": completion_tokens,
                          "total_tokens": len(ids) + completion_tokens}}


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a saved model directory (weights and tokenizer)")
    ap.add_argument("--served-name", help="the name clients ask for (default: --model as given)")
    ap.add_argument("--port", type=int, default=0, help="0: a free port, printed as 'PORT <n>'")
    ap.add_argument("--api-key-env", help="require the key in this environment variable")
    ap.add_argument("--faults", type=int, default=0, help="faults of each kind on the schedule")
    ap.add_argument("--fault-seed", type=int, default=0)
    ap.add_argument("--slow-s", type=float, default=5.0, help="how long a 'slow' fault holds its answer")
    ap.add_argument("--ignore-n", action="store_true", help="answer one choice whatever n asks")
    args = ap.parse_args(argv)
    Handler.state = State(args, Engine(args.model))
    server = QuietServer(("127.0.0.1", args.port), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    # Exit with the parent: it holds our stdin open and closes it (or dies) when done.
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    server.serve_forever()
    return 0


@dataclass
class RunningServer:
    url: str   # the API root, http://127.0.0.1:PORT/v1
    name: str  # the model name it serves
    process: subprocess.Popen

    def stats(self, *, reset_peak: bool = False) -> dict:
        """What was served so far; `reset_peak` starts a new count of requests in flight at once."""
        query = "?reset_peak=1" if reset_peak else ""
        with urllib.request.urlopen(self.url.removesuffix("/v1") + "/stats" + query, timeout=10) as r:
            return json.loads(r.read())

    def arm_faults(self, per_kind: int, *, seed: int = 0, slow_s: float = 5.0) -> None:
        """From the next request on: `per_kind` faults of each kind, on a schedule drawn from `seed`."""
        self._post("/faults", {"per_kind": per_kind, "seed": seed, "slow_s": slow_s})

    def configure(self, *, ignore_n: bool = False, max_stops: int | None = None) -> None:
        """Behave from now on like a server that answers one choice whatever `n` asks, and/or
        refuses more than `max_stops` stop sequences (400); the defaults restore the usual."""
        self._post("/configure", {"ignore_n": ignore_n, "max_stops": max_stops})

    def _post(self, route: str, body: dict) -> None:
        request = urllib.request.Request(self.url.removesuffix("/v1") + route, data=json.dumps(body).encode(),
                                         method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            r.read()


@contextlib.contextmanager
def serve(model_dir: str | Path, *, served_name: str | None = None, faults: int = 0, fault_seed: int = 0,
          slow_s: float = 5.0, api_key_env: str | None = None, ignore_n: bool = False, start_timeout: float = 180.0):
    """A server in a subprocess for the duration of the block; stopped (and reaped) after it."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--model", str(model_dir), "--faults", str(faults),
           "--fault-seed", str(fault_seed), "--slow-s", str(slow_s)]
    cmd += ["--served-name", served_name] if served_name else []
    cmd += ["--api-key-env", api_key_env] if api_key_env else []
    cmd += ["--ignore-n"] if ignore_n else []
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + start_timeout
        line = ""
        while not line.startswith("PORT "):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the test server did not start (exit status {proc.poll()})")
            if select.select([proc.stdout], [], [], 0.5)[0]:
                line = proc.stdout.readline()
        yield RunningServer(f"http://127.0.0.1:{int(line.split()[1])}/v1", served_name or str(model_dir), proc)
    finally:
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


if __name__ == "__main__":
    raise SystemExit(main())
