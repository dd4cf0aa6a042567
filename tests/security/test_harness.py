"""The corpus's own instruments catch what they are meant to (else a pass would prove nothing)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import numpy as np

from tests.security.harness import Marker, MemoryWatch

MARKER = Marker("SCIIOSECRET-00112233aabbccdd")


def test_the_marker_is_found_in_every_shape_a_response_gives_it():
    raw = MARKER.text.encode() * 3
    shapes = {
        "text": f"line: {MARKER.text}",
        "json uint8 values": json.dumps({"values": np.frombuffer(raw, "u1")[5:40].tolist()}),
        "json int16 values": json.dumps({"values": np.frombuffer(raw[:56], "<i2").tolist()}),
        "base64 at offset 0": base64.b64encode(raw).decode(),
        "base64 at offset 1": base64.b64encode(b"x" + raw).decode(),
        "base64 at offset 2": base64.b64encode(b"xy" + raw).decode(),
        "hex": raw.hex(),
        "spaced values": ", ".join(str(v) for v in raw[:40]),
    }
    missed = [name for name, text in shapes.items() if not MARKER.found_in(text)]
    assert not missed
    assert MARKER.found_in_bytes(b"\x00\x01" + raw)
    assert not MARKER.found_in(json.dumps({"values": list(range(100)), "text": "SCIIOSECRET-other"}))


def test_memory_watch_sees_a_child_allocate():
    grow = "import sys; sys.stdin.readline(); x = bytearray(300 * 2**20); x[::4096] = b'x' * len(x[::4096]); print(1)"
    child = subprocess.Popen([sys.executable, "-c", grow], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        with MemoryWatch(child.pid) as mem:
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "1"
        assert 280 <= mem.growth_mib < 400, mem.growth_mib
    finally:
        child.kill()
        child.wait()
