"""Turn what a caller hands to ``save`` (native objects or agent JSON) into what a format writes.

Agents send JSON: nested lists for arrays, records or columns for tables, objects for
containers. Ragged lists and Python objects are refused rather than pickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from io_core.errors import InvalidDataError, TooLargeError, UnsafeFormatError
from io_core.limits import Limits, array_nbytes, check_write, current

EXPANSION_FLOOR = 64 << 20  # arrays this small are built whatever the dtype does to them
EXPANSION_RATIO = 16  # beyond it, a dtype multiplies the given values (sub-arrays, "U100000000")


def as_array(data: Any, dtype: str | None = None, *, allow_pickle: bool = False, name: str = "data",
             limits: Limits | None = None) -> np.ndarray:
    """A real ndarray; ragged input or object dtype is refused unless pickling is allowed.

    Its size (elements x itemsize, sub-array dtypes and long string dtypes included) is
    checked against ``max_write_bytes`` before anything is allocated.
    """
    limits = limits or current()
    try:
        wanted = np.dtype(dtype) if dtype else None
    except (ValueError, TypeError, MemoryError) as exc:
        if "must fit" in str(exc):  # a sub-array dtype of more than 2 GiB per element
            check_write(2**31, limits, what=f"one element of dtype {str(dtype)[:100]!r}")
        raise InvalidDataError(f"invalid dtype {str(dtype)[:100]!r}: {str(exc)[:200]}",
                               hint="Use a NumPy dtype such as 'float32', 'int64', 'U20' or 'bool'.") from None
    nbytes = array_nbytes(data, wanted, limits, name)
    check_write(nbytes, limits, what=name)
    if wanted is not None and not hasattr(data, "dtype") and nbytes > EXPANSION_FLOOR:
        natural = array_nbytes(data, None, limits, name)
        if nbytes > EXPANSION_RATIO * max(natural, 1):  # a tiny request must not allocate a huge array
            raise TooLargeError(
                f"dtype {str(dtype)[:60]!r} would turn {name}'s values ({natural} bytes as given) into "
                f"{nbytes} bytes",
                hint="Give every value in full with a plain dtype (sub-array and very wide string dtypes "
                     "multiply each value).",
            )
    try:
        arr = np.asarray(data, dtype=wanted)
    except (ValueError, TypeError) as exc:
        raise InvalidDataError(
            f"{name} is not a rectangular array: {exc}",
            hint="Every row must have the same length; pass dtype=... to choose the type.",
        ) from None
    if arr.dtype.hasobject and not allow_pickle:
        raise UnsafeFormatError(
            f"{name} holds Python objects, which could only be stored by pickling",
            hint="Give numbers, booleans or strings of a rectangular shape.",
        )
    return arr


def as_array_tree(data: Any, dtype: str | None = None, *, allow_pickle: bool = False, prefix: str = "",
                  limits: Limits | None = None) -> dict[str, Any]:
    """A mapping of names to arrays, nested mappings kept as sub-trees (HDF5 groups).

    The members' sizes together are checked against ``max_write_bytes`` before any is built.
    """
    limits = limits or current()
    if not prefix:
        check_write(tree_nbytes(data, dtype, limits), limits)
    if isinstance(data, np.ndarray) or not isinstance(data, Mapping):
        raise InvalidDataError(
            "expected an object mapping names to arrays",
            hint='For example {"x": [1, 2, 3], "group": {"y": [[1, 2], [3, 4]]}}.',
        )
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or not key or "/" in key:
            raise InvalidDataError(f"invalid member name {key!r}", hint="Names are non-empty strings without '/'.")
        path = f"{prefix}/{key}"
        if isinstance(value, Mapping):
            out[key] = as_array_tree(value, dtype, allow_pickle=allow_pickle, prefix=path, limits=limits)
        else:
            out[key] = as_array(value, dtype, allow_pickle=allow_pickle, name=path, limits=limits)
    return out


def tree_nbytes(data: Any, dtype: str | None, limits: Limits) -> int:
    """Bytes the arrays of a (nested) mapping would take, summed without allocating any."""
    if not isinstance(data, Mapping) or isinstance(data, np.ndarray):
        return 0  # refused as a non-mapping by as_array_tree
    try:
        wanted = np.dtype(dtype) if dtype else None
    except (ValueError, TypeError, MemoryError):
        return 0  # as_array names the bad dtype
    total, stack = 0, [(data, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_depth:
            raise InvalidDataError(f"groups are nested more than {limits.max_depth} levels deep")
        for value in node.values():
            if isinstance(value, Mapping):
                stack.append((value, depth + 1))
            else:
                total += array_nbytes(value, wanted, limits)
        if total > limits.max_write_bytes:
            break
    return total


def as_frame(data: Any) -> Any:
    """A DataFrame from a frame, records (list of objects) or columns (object of lists)."""
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, list):
        if not all(isinstance(r, Mapping) for r in data):
            raise InvalidDataError("records must be a list of objects", hint='For example [{"a": 1, "b": 2}, ...].')
        return pd.DataFrame.from_records(data) if data else pd.DataFrame()
    if isinstance(data, Mapping):
        lengths = {k: len(v) for k, v in data.items() if isinstance(v, (list, tuple, np.ndarray))}
        if len(lengths) != len(data) or len(set(lengths.values())) > 1:
            raise InvalidDataError(
                "columns must be an object of equal-length lists",
                hint='For example {"a": [1, 2], "b": [3, 4]}.',
            )
        return pd.DataFrame({str(k): v for k, v in data.items()})
    raise InvalidDataError(
        f"cannot make a table from {type(data).__name__}",
        hint="Give records (a list of objects) or columns (an object of equal-length lists).",
    )
