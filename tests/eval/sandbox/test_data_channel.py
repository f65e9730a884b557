"""The data channel: descriptor 4 of a sample given Job.data_bytes > 0 is a write-only pipe whose
contents come back as RunResult.data (the strict verdict mode reads a sample's results there)."""

import pytest

from codemix.eval.sandbox.child import DATA_FD
from codemix.eval.sandbox.executor import Executor, Job


@pytest.fixture(scope="module")
def executor():
    with Executor(workers=1) as ex:
        yield ex


def test_what_the_sample_writes_comes_back_byte_for_byte(executor):
    payload = bytes(range(256)) * 4  # every byte value: the JSON protocol must not mangle any
    program = (f"import os\ndata = bytes(range(256)) * 4\nwhile data:\n    data = data[os.write({DATA_FD}, data):]\n"
               "print('stdout is not the channel')\n")
    ((_, result),) = executor.run([Job("x", program, 5.0, data_bytes=len(payload))])
    assert result.verdict == "passed" and result.data == payload


def test_a_large_payload_is_read_while_the_sample_runs(executor):
    # 1 MiB is 16 times a pipe buffer: the worker must drain it as it comes or the sample blocks.
    program = f"import os\nos.write({DATA_FD}, b'y' * (1 << 20))\n"
    ((_, result),) = executor.run([Job("x", program, 5.0, data_bytes=2 << 20)])
    assert result.verdict == "passed" and result.data == b"y" * (1 << 20)


def test_nothing_written_is_empty_and_too_much_fails(executor):
    got = dict(executor.run([
        Job("silent", "pass\n", 5.0, data_bytes=10),
        Job("over", f"import os\nos.write({DATA_FD}, b'z' * 11)\n", 5.0, data_bytes=10),
        Job("over-and-failed", f"import os\nos.write({DATA_FD}, b'z' * 11)\nassert False\n", 5.0, data_bytes=10),
    ]))
    assert got["silent"].verdict == "passed" and got["silent"].data == b""
    assert got["over"].verdict == "failed" and got["over"].error == "data channel over 10 bytes"
    assert got["over"].data == b"z" * 10
    assert got["over-and-failed"].verdict == "failed"


def test_without_data_bytes_there_is_no_descriptor_4(executor):
    program = (f"import os\ntry:\n    os.write({DATA_FD}, b'x')\n    reached = True\nexcept OSError:\n"
               "    reached = False\nassert not reached\n")
    ((_, result),) = executor.run([Job("x", program, 5.0)])
    assert result.verdict == "passed" and result.data == b""
