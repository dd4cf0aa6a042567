"""Resource limits, declared once: every size a request may make the process read, inflate or write.

A ``Limits`` value travels with each call (``ReadOptions.limits`` / ``WriteOptions.limits``);
the process-wide default comes from ``current()`` and a server sets it once at start
(``--max-write-bytes`` / ``SCIIO_MAX_WRITE_BYTES``). Checks compute the cost from metadata
(headers, zip directories, dtypes, chunk grids, ``st_size``) and raise TOO_LARGE before any
work, with a hint naming a request that fits. This module stays plain data and arithmetic:
no heavy import, no file access beyond ``stat``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from io_core.errors import InvalidDataError, TooLargeError

KiB, MiB, GiB = 1024, 1024**2, 1024**3


@dataclass(frozen=True)
class Limits:
    """Upper bounds for one call; every field is a size the work is checked against first."""

    max_write_bytes: int = 1 * GiB  # bytes a save/convert may produce (array dtype x shape, documents)
    max_text_bytes: int = 32 * MiB  # text formats parsed whole (JSON, YAML, TOML, XML, BibTeX, text, JSON Lines)
    max_member_bytes: int = 256 * MiB  # one inflated member: zip entry, gzip stream read whole, Zarr chunk
    max_compression_ratio: float = 200.0  # inflated / stored, for members above ratio_floor_bytes
    ratio_floor_bytes: int = 16 * MiB  # smaller members are never refused for their ratio
    max_image_pixels: int = 40_000_000  # decoded pixels of one image frame (Pillow's bomb guard follows it)
    max_depth: int = 100  # nesting of documents (JSON/YAML/TOML), loaded or saved
    max_yaml_aliases: int = 10_000  # alias references in one YAML document
    max_values: int = 10_000_000  # values a document holds once its aliases are expanded
    max_page_rows: int = 2_000_000  # table rows or text lines one page may ask for (previews read 2M points)
    max_page_cells: int = 20_000_000  # rows x columns of one table page (known from the header before reading)
    max_chunks: int = 10_000  # chunks one selection or preview of a chunked array may touch
    max_chunks_read: int = 1_000_000  # HDF5: chunks any one read may touch (one per KiB returned, up to this)
    max_exact_chunks: int = 1_000_000  # chunks exact statistics may stream through (each is read once)
    max_chunk_span: int = 4_000_000  # HDF5: chunk positions in one read's bounding box (libhdf5 walks each)

    def with_overrides(self, **changes: Any) -> Limits:
        """A copy with the fields in ``changes`` that are not None replaced."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


DEFAULT = Limits()
_current = DEFAULT


def current() -> Limits:
    """The process-wide limits (what ``ReadOptions``/``WriteOptions`` start with)."""
    return _current


def set_current(limits: Limits) -> Limits:
    """Replace the process-wide limits (a server does it once at start); returns the old ones."""
    global _current
    old, _current = _current, limits
    return old


_UNITS = {"": 1, "b": 1, "k": KiB, "kb": 10**3, "kib": KiB, "m": MiB, "mb": 10**6, "mib": MiB,
          "g": GiB, "gb": 10**9, "gib": GiB, "t": 1024**4, "tb": 10**12, "tib": 1024**4}


def parse_bytes(value: int | str) -> int:
    """``536870912``, ``"512MiB"``, ``"2 GB"`` -> bytes (ValueError for anything else)."""
    if isinstance(value, int):
        return value
    text = str(value).strip().lower().replace("_", "")
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz ")
    unit = text[len(number):].strip()
    if not number or unit not in _UNITS:
        raise ValueError(f"not a byte size: {value!r} (e.g. 1073741824, 512MiB, 2GB)")
    return int(float(number) * _UNITS[unit])


def human(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``: sizes in messages."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} bytes" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # pragma: no cover


# -- writes --------------------------------------------------------------------------------------

def check_write(nbytes: int, limits: Limits, what: str = "the data", hint: str | None = None) -> None:
    """TOO_LARGE when ``nbytes`` (computed before allocating) exceeds ``max_write_bytes``."""
    if nbytes > limits.max_write_bytes:
        raise TooLargeError(
            f"{what} would be {human(nbytes)}; the most one save may write is {human(limits.max_write_bytes)}",
            hint=hint or "Save a smaller part (fewer rows, a smaller shape or a narrower dtype), "
                         "or start the server with a larger --max-write-bytes.",
        )


def array_nbytes(data: Any, dtype: Any, limits: Limits, name: str = "data") -> int:
    """Bytes ``np.asarray(data, dtype)`` would allocate, computed without allocating.

    ``dtype`` is a ``numpy.dtype`` or None (inferred as NumPy would: numbers 8 bytes, strings
    4 bytes a character of the longest one). Sub-array dtypes (``"(1000,1000)f8"``) count
    their whole block per element. Nested lists are walked once, stopping as soon as the
    estimate passes ``max_write_bytes`` or the nesting passes ``max_depth``.
    """
    def itemsize_of(arr: Any) -> int:
        return int(dtype.itemsize if dtype is not None else arr.dtype.itemsize)

    if hasattr(data, "shape") and hasattr(data, "dtype") and hasattr(data, "size"):
        return int(data.size) * itemsize_of(data)
    cap = limits.max_write_bytes
    scalars = longest = array_bytes = 0
    strings = complex_ = False

    def estimate() -> int:
        unit = dtype.itemsize if dtype is not None else (4 * max(32, longest) if strings else 16 if complex_ else 8)
        return scalars * int(unit) + array_bytes

    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (list, tuple)):
            if depth >= limits.max_depth:
                raise InvalidDataError(
                    f"{name} is nested more than {limits.max_depth} levels deep",
                    hint="Arrays have at most a few dozen dimensions; flatten the data.",
                )
            stack.extend((v, depth + 1) for v in value)
            continue
        if hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "size"):
            array_bytes += int(value.size) * itemsize_of(value)
        else:
            scalars += 1
            if isinstance(value, (str, bytes)):
                strings = True
                longest = max(longest, len(value))
            elif isinstance(value, complex):
                complex_ = True
        if (scalars & 1023) == 0 and estimate() > cap:
            break
    return estimate()


# -- text parsed whole ---------------------------------------------------------------------------

def check_text_size(size: int, limits: Limits, name: str, what: str = "text", hint: str | None = None) -> None:
    """TOO_LARGE when a file of ``size`` bytes (``st_size``: nothing read yet) is too big to parse whole."""
    if size > limits.max_text_bytes:
        raise TooLargeError(
            f"{name!r} is {human(size)}; {what} files are parsed whole only up to {human(limits.max_text_bytes)}",
            hint=hint or "Use read_slice to page through its lines (text is read a page at a time).",
            path=name,
        )


_SCALARS = frozenset({int, float, str, bool, bytes, type(None)})


def check_document(value: Any, limits: Limits, what: str = "the document") -> None:
    """Nesting depth and value count of a JSON-like value (aliases counted every time they occur).

    Shared sub-structures (YAML aliases) are measured once and remembered, so a value that
    expands to billions of items costs as much to check as it took to build. A cycle is
    INVALID_DATA. One iterative pass, no recursion: any depth is safe to check.
    """
    if not isinstance(value, (Mapping, list, tuple)):
        if _leaf_values(value) > limits.max_values:
            raise TooLargeError(f"{what} holds {_leaf_values(value)} values; at most {limits.max_values} are written "
                                "as a document", hint="Write a smaller part of it, or save it as an array format.")
        return
    too_deep = TooLargeError(f"{what} is nested more than {limits.max_depth} levels deep",
                             hint="Flatten the structure (or store it as several files).")
    done: dict[int, tuple[int, int]] = {}  # id -> (values once expanded, depth) of measured containers
    active = {id(value)}
    # frames: [container, iterator over its values, values so far, deepest child]
    stack: list[list[Any]] = [[value, *_open(value)]]
    while stack:
        frame = stack[-1]
        it, count, deepest = frame[1], frame[2], frame[3]
        child = None
        for kid in it:
            kind = type(kid)
            if kind in _SCALARS:
                count += 1
            elif kind is dict or kind is list or kind is tuple or isinstance(kid, (Mapping, list, tuple)):
                seen = done.get(id(kid))
                if seen is not None:
                    count += seen[0]
                    deepest = max(deepest, seen[1])
                    continue
                if id(kid) in active:
                    raise InvalidDataError(f"{what} contains itself (a recursive reference)",
                                           hint="Remove the reference (YAML alias) to its own ancestor.")
                child = kid
                break
            else:
                count += _leaf_values(kid)
        frame[2], frame[3] = count, deepest
        if child is not None:
            if len(stack) >= limits.max_depth:
                raise too_deep
            active.add(id(child))
            stack.append([child, *_open(child)])
            continue
        stack.pop()
        active.discard(id(frame[0]))
        depth = deepest + 1
        done[id(frame[0])] = (count, depth)
        if count > limits.max_values:
            raise TooLargeError(
                f"{what} holds more than {limits.max_values} values once shared parts (YAML aliases) are written out",
                hint="Write a smaller part of it.")
        if stack:
            parent = stack[-1]
            parent[2] += count
            parent[3] = max(parent[3], depth)
        if depth > limits.max_depth:
            raise too_deep


def _open(node: Any) -> tuple[Any, int, int]:
    """(iterator over the values to visit, values counted already, deepest child) for a new frame."""
    if isinstance(node, Mapping):
        return iter(node.values()), 1 + len(node), 0  # the node and its keys
    return iter(node), 1, 0


def _leaf_values(value: Any) -> int:
    """An array (NumPy, pandas) counts as its number of elements, anything else as one value."""
    size = getattr(value, "size", None)
    return int(size) if isinstance(size, int) and hasattr(value, "shape") else 1


# -- compressed members --------------------------------------------------------------------------

def check_member(name: str, inflated: int, stored: int, limits: Limits, container: str = "the archive") -> None:
    """A compressed member by its declared sizes: TOO_LARGE past ``max_member_bytes`` or the ratio."""
    if inflated > limits.max_member_bytes:
        raise TooLargeError(
            f"{container}: member {name!r} inflates to {human(inflated)}; at most {human(limits.max_member_bytes)} "
            "of one member is decompressed",
            hint="Ask for another member (key=...), or store it uncompressed so it can be read in parts.",
        )
    if inflated > limits.ratio_floor_bytes and inflated > limits.max_compression_ratio * max(stored, 1):
        raise TooLargeError(
            f"{container}: member {name!r} inflates {inflated / max(stored, 1):.0f}-fold "
            f"({human(stored)} -> {human(inflated)}), more than the {limits.max_compression_ratio:.0f}-fold "
            "a member may (a decompression bomb?)",
            hint="Ask for another member (key=...); a real file this redundant can be stored uncompressed.",
        )


def check_zip(zf: Any, limits: Limits, names: list[str] | None = None, container: str = "the archive") -> None:
    """Every member of an open ``zipfile.ZipFile`` (or those in ``names``) by its directory entry.

    Python's ``zipfile`` never inflates past the declared ``file_size`` (it stops and fails
    the CRC), so the directory is a bound that holds for every reader built on it.
    """
    infos = zf.infolist() if names is None else [zf.getinfo(n) for n in names]
    for info in infos:
        if info.compress_type != 0:  # ZIP_STORED is read as it lies on disk
            check_member(info.filename, info.file_size, info.compress_size, limits, container)


# -- images ---------------------------------------------------------------------------------------

def check_pixels(width: int, height: int, limits: Limits, name: str) -> None:
    pixels = int(width) * int(height)
    if pixels > limits.max_image_pixels:
        raise TooLargeError(
            f"{name!r} is {width} x {height} = {pixels} pixels; at most {limits.max_image_pixels} are decoded",
            hint="load_summary still reads its header (up to twice this many pixels); downscale the image to view it.",
            path=name,
        )


# -- pages and chunks ------------------------------------------------------------------------------

def check_page(limit: int, limits: Limits, what: str = "rows", columns: int | None = None) -> None:
    """A page larger than ``max_page_rows`` (or, with ``columns`` known, ``max_page_cells``) is refused
    before anything is parsed."""
    if limit > limits.max_page_rows:
        raise TooLargeError(
            f"a page of {limit} {what} was asked for; one page holds at most {limits.max_page_rows}",
            hint=f"Pass limit={min(limits.max_page_rows, 1000)} and page on with offset=.",
        )
    if columns and limit * columns > limits.max_page_cells:
        fits = max(1, limits.max_page_cells // columns)
        raise TooLargeError(
            f"a page of {limit} rows x {columns} columns was asked for; one page holds at most "
            f"{limits.max_page_cells} cells",
            hint=f"Pass limit={min(fits, 1000)} (or name fewer columns) and page on with offset=.",
        )


def check_chunks(n_chunks: int, chunk_bytes: int, limits: Limits, hint: str) -> None:
    """A selection of a chunked array: chunks it touches and the size of each decompressed chunk."""
    if chunk_bytes > limits.max_member_bytes:
        raise TooLargeError(
            f"one chunk of this array is {human(chunk_bytes)} decompressed; at most "
            f"{human(limits.max_member_bytes)} of one chunk is read", hint="Rechunk the array into smaller chunks.")
    if n_chunks > limits.max_chunks:
        raise TooLargeError(f"the selection touches {n_chunks} chunks; at most {limits.max_chunks} are read at once",
                            hint=hint)
