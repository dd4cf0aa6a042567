"""Requests the stdio reader cannot parse still get an answer: a JSON-RPC error for their id.

The MCP SDK parses each stdin line with pydantic, whose JSON parser stops at a fixed nesting
depth (about 200); such a line is dropped and the client waits for an answer that never
comes. A small filter in front of stdin passes every line through unchanged, except a
request nested deeper than the parser goes: it is answered at once on stdout with
``INVALID_DATA`` (a tool error for ``tools/call``, else a JSON-RPC error with the request's id)
and not forwarded. Only lines with
that many brackets are scanned, so the common path costs one count of two bytes per line.
"""

from __future__ import annotations

import json
import os
import threading

MAX_DEPTH = 150  # below pydantic-core's JSON recursion limit, with room for the JSON-RPC envelope
_OPENERS = (ord("["), ord("{"))


def depth(line: bytes) -> int:
    """Deepest nesting of ``[``/``{`` outside strings."""
    deepest = level = 0
    in_string = escaped = False
    for byte in line:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in _OPENERS:
            level += 1
            deepest = max(deepest, level)
        elif byte in (0x5D, 0x7D):
            level -= 1
    return deepest


def refusal(line: bytes) -> bytes | None:
    """The JSON-RPC error line answering ``line``, or None when the line is fine (or has no id to answer)."""
    if line.count(b"[") + line.count(b"{") <= MAX_DEPTH or depth(line) <= MAX_DEPTH:
        return None
    try:
        request = json.loads(line)
        request_id, method = request.get("id"), request.get("method")
    except (ValueError, RecursionError, AttributeError):
        return None
    if request_id is None:
        return None  # a notification: nothing to answer
    text = (f"INVALID_DATA: the request is nested more than {MAX_DEPTH} levels deep, deeper than the server's "
            "JSON reader goes Hint: flatten the data (arrays have a few dozen dimensions at most).")
    if method == "tools/call":  # answered like every refused tool call: a coded tool error
        error = {"jsonrpc": "2.0", "id": request_id,
                 "result": {"content": [{"type": "text", "text": text}], "isError": True, "resultType": "complete"}}
    else:
        error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": -32602, "message": text}}
    return json.dumps(error).encode() + b"\n"


def install() -> None:
    """Put the filter between the real stdin and fd 0 (call before the stdio transport starts)."""
    real = os.dup(0)
    answers = os.dup(1)  # the protocol's stdout as it is now (the transport later points fd 1 at stderr)
    read_end, write_end = os.pipe()
    os.dup2(read_end, 0)
    os.close(read_end)
    lock = threading.Lock()

    def pump() -> None:
        with os.fdopen(real, "rb", buffering=1 << 16) as source, os.fdopen(write_end, "wb", buffering=0) as sink:
            for line in source:
                answer = refusal(line)
                if answer is None:
                    sink.write(line)
                    continue
                with lock:
                    os.write(answers, answer)  # one small write: atomic between protocol lines

    threading.Thread(target=pump, name="sciio-stdin-guard", daemon=True).start()
