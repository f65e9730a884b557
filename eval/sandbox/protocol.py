"""The worker's side of the protocol with the harness, and what it keeps of a sample's streams.

Messages on the inherited stdin/stdout pipes: 4-byte big-endian length + JSON, both ways (the
harness's side is codemix.eval.sandbox.executor._Worker). Bytes travel as base64 text.
"""

from __future__ import annotations

import binascii
import json
import os
import struct

_HEADER = struct.Struct(">I")


def encode_bytes(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def send(fd: int, obj: dict) -> None:
    data = json.dumps(obj).encode()
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd: int) -> dict | None:
    header = _read_exact(fd, _HEADER.size)
    if header is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(header)[0])
    return None if body is None else json.loads(body)


class Capped:
    """Keeps the first and the last `cap` bytes of a stream and counts (then drops) the rest,
    so a sample printing a gigabyte costs the worker read time but no memory."""

    def __init__(self, cap: int):
        self.cap, self.head, self.tail, self.total = cap, bytearray(), bytearray(), 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        if len(self.head) < self.cap:
            self.head += data[: self.cap - len(self.head)]
        self.tail += data[-self.cap:]
        if len(self.tail) > 2 * self.cap:  # trimmed in batches: amortised O(1) per byte
            del self.tail[: -self.cap]

    def last(self, n: int) -> bytes:
        return bytes(self.tail[-n:])


class Bounded:
    """Keeps the first `cap` bytes of a stream and counts the rest (the data channel: more than
    `cap` fails the sample, so only the head matters)."""

    def __init__(self, cap: int):
        self.cap, self.head, self.total = cap, bytearray(), 0

    def add(self, data: bytes) -> None:
        self.total += len(data)
        if len(self.head) < self.cap:
            self.head += data[: self.cap - len(self.head)]
