"""The one JSON encoding of values in previews and slices (rules in schemas.models)."""

import base64
import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from io_core import Workspace
from io_core.options import ReadOptions
from io_core.slicing import encode_array
from io_core.summary import encode_value, frame_summary


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (float("nan"), "NaN"),
        (np.float32("inf"), "Infinity"),
        (-np.inf, "-Infinity"),
        (np.int64(7), 7),
        (np.bool_(True), True),
        (1.5 - 2j, {"real": 1.5, "imag": -2.0}),
        (np.complex64(complex(np.nan, 1)), {"real": "NaN", "imag": 1.0}),
        (np.datetime64("2024-05-06T07:08:09"), "2024-05-06T07:08:09"),
        (np.datetime64("NaT"), None),
        (np.timedelta64(90, "s"), "90 seconds"),
        (dt.date(2020, 1, 2), "2020-01-02"),
        (pd.Timestamp("2021-03-04 05:06"), "2021-03-04T05:06:00"),
        (b"plain bytes", "plain bytes"),
        (b"\xff\xfe\x00", {"base64": base64.b64encode(b"\xff\xfe\x00").decode()}),
        (None, None),
    ],
)
def test_scalar_rules(value, encoded):
    got = encode_value(value)
    assert got == encoded
    json.dumps(got, allow_nan=False)  # strictly valid JSON


def test_structured_records_and_long_strings():
    rec = np.array([(1, 2.5, b"ab")], dtype=[("i", "i4"), ("f", "f8"), ("s", "S2")])[0]
    assert encode_value(rec) == {"i": 1, "f": 2.5, "s": "ab"}
    long = encode_value("x" * 1000, max_chars=10)
    assert long == "x" * 10 + "…"
    assert encode_value(object()).startswith("<object object")


def test_arrays_encode_the_same_way():
    assert encode_array(np.array([[1.0, np.nan], [np.inf, 2.0]])) == [[1.0, "NaN"], ["Infinity", 2.0]]
    assert encode_array(np.array(["2020-01-01", "NaT"], dtype="datetime64[D]")) == ["2020-01-01", None]
    assert encode_array(np.array([1 + 1j])) == [{"real": 1.0, "imag": 1.0}]


def test_structured_hdf5_dataset_reads_as_records(tmp_path):
    import h5py

    data = np.array([(1, 0.5), (2, 1.5)], dtype=[("id", "i4"), ("v", "f8")])
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f["table"] = data
    ws = Workspace([tmp_path])
    assert ws.read_slice("c.h5", key="table").slice.values == [{"id": 1, "v": 0.5}, {"id": 2, "v": 1.5}]
    summary = ws.summarize("c.h5", key="table").summary
    assert summary.head == [{"id": 1, "v": 0.5}, {"id": 2, "v": 1.5}] and "id" in summary.dtype


def test_object_columns_and_mixed_cells_in_frames():
    df = pd.DataFrame({"obj": [{"a": 1}, [1, 2], None], "mixed": [1, "two", 3.5]})
    summary = frame_summary(df, ReadOptions())
    assert summary.head[0] == {"obj": {"a": 1}, "mixed": 1}
    assert summary.head[1] == {"obj": [1, 2], "mixed": "two"}
    assert summary.head[2]["obj"] is None
    json.dumps(summary.model_dump(mode="json"), allow_nan=False)
