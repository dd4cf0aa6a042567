"""The stdin filter answers requests too deep for the SDK's JSON reader, and passes everything else untouched."""

from __future__ import annotations

import json

from server.stdio_guard import MAX_DEPTH, depth, refusal


def _nested(n: int) -> list:
    value: list = [1]
    for _ in range(n - 1):
        value = [value]
    return value


def _line(data, method="tools/call", request_id=7) -> bytes:
    msg = {"jsonrpc": "2.0", "method": method, "params": {"name": "save", "arguments": {"data": data}}}
    if request_id is not None:
        msg["id"] = request_id
    return json.dumps(msg).encode() + b"\n"


def test_depth_ignores_brackets_inside_strings():
    assert depth(b'{"a": "[[[[\\"[[[", "b": [[1]]}') == 3
    assert depth(json.dumps(_nested(50)).encode()) == 50


def test_ordinary_and_wide_requests_pass():
    assert refusal(_line(_nested(MAX_DEPTH - 10))) is None
    assert refusal(_line([[i] for i in range(5000)])) is None  # many brackets, shallow


def test_a_deep_tool_call_gets_a_coded_tool_error_with_its_id():
    answer = json.loads(refusal(_line(_nested(205))))
    assert answer["id"] == 7 and answer["result"]["isError"] is True
    assert answer["result"]["content"][0]["text"].startswith("INVALID_DATA:")


def test_other_deep_requests_get_a_json_rpc_error_and_notifications_nothing():
    answer = json.loads(refusal(_line(_nested(205), method="resources/read")))
    assert answer["error"]["message"].startswith("INVALID_DATA:")
    assert refusal(_line(_nested(205), request_id=None)) is None
