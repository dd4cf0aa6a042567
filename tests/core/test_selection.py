"""Selection parsing: property-based against NumPy itself, plus the refusals."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from io_core.errors import IOCoreError
from io_core.selection import parse_selection, read_selection

shapes = st.lists(st.integers(0, 6), min_size=0, max_size=4).map(tuple)


@st.composite
def shape_and_selection(draw):
    shape = draw(shapes)
    parts, index = [], []
    for n in shape:
        if n and draw(st.booleans()):
            i = draw(st.integers(-n, n - 1))
            parts.append(str(i))
            index.append(i)
        else:
            start = draw(st.none() | st.integers(-8, 8))
            stop = draw(st.none() | st.integers(-8, 8))
            step = draw(st.none() | st.integers(-3, 3).filter(lambda s: s != 0))
            text = f"{'' if start is None else start}:{'' if stop is None else stop}"
            if step is not None:
                text += f":{step}"
            parts.append(text)
            index.append(slice(start, stop, step))
    cut = draw(st.integers(0, len(parts)))  # trailing axes left out select everything
    return shape, parts[:cut], tuple(index[:cut])


@settings(max_examples=300, deadline=None)
@given(shape_and_selection())
def test_selection_reads_what_numpy_reads(case):
    shape, parts, index = case
    arr = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    sel = parse_selection(", ".join(parts), shape)
    expected = arr[index]
    got = read_selection(arr, sel)
    assert got.shape == expected.shape == sel.shape
    assert np.array_equal(got, expected)
    assert sel.nbytes(4) == expected.nbytes
    # the canonical text form selects the same values
    assert np.array_equal(read_selection(arr, parse_selection(str(sel), shape)), expected)
    # the normalised form reads only with positive steps (what h5py requires)
    assert all(i.step is None or i.step > 0 for i in sel.items if isinstance(i, slice))


@settings(max_examples=100, deadline=None)
@given(shape_and_selection())
def test_ellipsis_matches_numpy(case):
    shape, parts, index = case
    if not parts:
        return
    arr = np.arange(int(np.prod(shape)), dtype=np.int16).reshape(shape)
    sel = parse_selection(", ".join([*parts[:1], "..."]), shape)
    assert np.array_equal(read_selection(arr, sel), arr[(index[0], Ellipsis)])


@pytest.mark.parametrize("text", [None, "", "[]", "...", ":, :", "[:, ...]"])
def test_whole_array_spellings(text):
    assert parse_selection(text, (3, 4)).shape == (3, 4)


@pytest.mark.parametrize(
    ("text", "shape", "fragment"),
    [
        ("5", (5,), "-5..4"),
        ("-6", (5,), "-5..4"),
        ("0, 0, 0", (2, 2), "2 dimensions"),
        ("..., ...", (2, 2), "one '...'"),
        ("::0", (3,), "zero"),
        ("a:b", (3,), "cannot parse"),
        ("1.5", (3,), "cannot parse"),
        ("0", (0,), "empty"),
    ],
)
def test_invalid_selections_name_the_valid_range(text, shape, fragment):
    with pytest.raises(IOCoreError) as info:
        parse_selection(text, shape)
    assert info.value.code == "INVALID_SELECTION"
    assert fragment in str(info.value)


def test_scalar_array_and_string_form():
    sel = parse_selection("", ())
    assert sel.shape == () and read_selection(np.array(7), sel) == 7
    assert str(parse_selection("1, ::-1", (3, 4))) == "1, 3::-1"
    assert str(parse_selection("-1, 5:1:-2", (3, 9))) == "2, 5:2:-2"
    assert str(parse_selection("0:10:3", (10,))) == "0:10:3"


@settings(max_examples=300, deadline=None)
@given(shape_and_selection(), st.integers(1, 200))
def test_narrowed_selection_fits_and_is_a_leading_part(case, max_values):
    shape, parts, _index = case
    arr = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    sel = parse_selection(", ".join(parts), shape)
    narrowed = parse_selection(sel.narrowed(max_values), shape)
    got = read_selection(arr, narrowed).reshape(-1)
    assert got.size <= max(max_values, 1) or sel.size <= max_values
    full = read_selection(arr, sel).reshape(-1)
    if sel.size <= max_values:
        assert np.array_equal(got, full)
    elif got.size:
        # the values come from the requested selection, in its order, starting at its first value
        assert got[0] == full[0] and set(got.tolist()) <= set(full.tolist())


@settings(max_examples=200, deadline=None)
@given(shape_and_selection(), st.lists(st.integers(1, 4), min_size=4, max_size=4))
def test_strided_reads_every_kth_value(case, steps):
    shape, parts, _index = case
    arr = np.arange(int(np.prod(shape)), dtype=np.int64).reshape(shape)
    sel = parse_selection(", ".join(parts), shape)
    steps = steps[: len(sel.shape)]
    strided = sel.strided(steps)
    expected = read_selection(arr, sel)[tuple(slice(None, None, k) for k in steps)] if steps else read_selection(arr, sel)
    got = read_selection(arr, strided)
    assert got.shape == expected.shape == strided.shape
    if not sel.flip_items:  # flipped axes are strided from their stored start (previews only)
        assert np.array_equal(got, expected)
