"""Python pickles (.pkl, .pickle, .pkl.gz), joblib files and PyTorch checkpoints (.pt, .pth).

Unpickling runs code chosen by whoever wrote the file, so nothing here unpickles unless
the workspace allows pickle (``--allow-pickle``): otherwise load, summary and slices
are UNSAFE_FORMAT. Before that refusal the stream is checked *without executing it*
(``pickletools`` walks the opcodes): an empty, cut or garbage file is CORRUPT_FILE, and
the refusal names the protocol and the classes the pickle would import, which helps
decide whether to trust it. When allowed, summaries describe the object — type, length,
keys, the shapes and dtypes of the arrays and tensors inside — without printing it
whole. Saving writes any Python object (the data comes from the caller, so writing is
not gated); joblib and torch files need their libraries, which are never installed by
this package.
"""

from __future__ import annotations

import gzip
import io
import pickle
import pickletools
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from io_core.errors import CorruptFileError, UnsafeFormatError
from io_core.formats.base import Format
from io_core.formats.documents import _pick
from io_core.options import ReadOptions, WriteOptions
from io_core.summary import array_summary, clip_text, encode_value, frame_summary
from schemas import ValueSummary

GLOBAL_OPS = ("GLOBAL", "STACK_GLOBAL", "INST")
SCAN_GLOBALS = 20
SCAN_BYTES = 64 * 1024  # what is read of a pickle that is refused


def _head(fh: IO[bytes], name: str) -> tuple[IO[bytes], bool]:
    """The first SCAN_BYTES of the stream (inflated, for .gz) and whether that is all of it.

    Without ``--allow-pickle`` only this prefix is ever read: the refusal never waits for
    (or allocates) a gigabyte argument further on.
    """
    try:
        head = fh.read(SCAN_BYTES + 1)
    except (OSError, EOFError, gzip.BadGzipFile, zipfile.BadZipFile) as exc:
        raise CorruptFileError(f"{name!r} is not a complete pickle: {exc}") from None
    return io.BytesIO(head[:SCAN_BYTES]), len(head) <= SCAN_BYTES


def _scan(fh: IO[bytes], name: str, complete: bool = True) -> tuple[int, list[str]]:
    """(protocol, classes it imports) from a walk over the opcodes; nothing is executed.

    Raises CORRUPT_FILE for anything that is not one complete pickle stream. With
    ``complete=False`` ``fh`` is a prefix: running out of it ends the walk quietly (an
    unknown opcode inside it is still CORRUPT_FILE). Module and class names of protocol 4+
    come from the strings pushed (or fetched from the memo) just before STACK_GLOBAL.
    """
    protocol = 0
    imports: list[str] = []
    pushed: list[str | None] = []  # the last few values pushed: strings, or None for anything else
    memo: dict[int, str | None] = {}
    try:
        for op, arg, _ in pickletools.genops(fh):
            kind = op.name
            if kind == "PROTO":
                protocol = int(arg)
                continue
            if kind == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
                continue
            if kind in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[int(arg)] = pushed[-1] if pushed else None
                continue
            if kind in ("GET", "BINGET", "LONG_BINGET"):
                pushed.append(memo.get(int(arg)))
            elif kind in ("GLOBAL", "INST") and isinstance(arg, str):
                _note(imports, arg.replace(" ", "."))
                pushed.append(None)
            elif kind == "STACK_GLOBAL":
                if len(pushed) >= 2 and isinstance(pushed[-2], str) and isinstance(pushed[-1], str):
                    _note(imports, f"{pushed[-2]}.{pushed[-1]}")
                pushed.append(None)
            elif isinstance(arg, str) and ("UNICODE" in kind or "STRING" in kind):
                pushed.append(arg[:200])
            else:
                pushed.append(None)
            del pushed[:-2]
    except (ValueError, EOFError, KeyError, UnicodeDecodeError, OSError, gzip.BadGzipFile, zipfile.BadZipFile) as exc:
        if not complete and isinstance(fh, io.BytesIO) and fh.tell() >= len(fh.getbuffer()):
            return protocol, imports  # the prefix ended inside an argument: the rest is never read
        raise CorruptFileError(f"{name!r} is not a complete pickle: {exc}") from None
    return protocol, imports


def _note(imports: list[str], name: str) -> None:
    if name not in imports and len(imports) < SCAN_GLOBALS:
        imports.append(name)


def _refuse(name: str, protocol: int | None, imports: list[str]) -> UnsafeFormatError:
    detail = ""
    if protocol is not None:
        detail = f" (pickle protocol {protocol}" + (f"; it would import {', '.join(imports)}" if imports else "") + ")"
    return UnsafeFormatError(f"{name!r} is a pickle{detail}; loading it would run code stored in the file")


def _check_nonempty(path: Path) -> None:
    if path.stat().st_size == 0:
        raise CorruptFileError(f"{path.name!r} is empty", hint="The file is empty.")


# -- describing an object without printing it ------------------------------------------------

def describe(value: Any, opts: ReadOptions, depth: int = 0) -> Any:
    """A bounded outline: containers cut to ``preview_items``, arrays and tensors as their shape."""
    n = opts.preview_items
    if hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, np.generic):
        shape = "x".join(str(int(s)) for s in value.shape) or "scalar"
        return f"<{type(value).__name__} shape={shape} dtype={value.dtype}>"
    if hasattr(value, "columns") and hasattr(value, "iloc"):
        cols = [str(c) for c in list(value.columns)[:n]]
        return f"<{type(value).__name__} {len(value)} rows x {len(value.columns)} columns: {cols}>"
    if isinstance(value, Mapping):
        if depth >= 4:
            return f"<{type(value).__name__} of {len(value)}>"
        out = {str(k): describe(v, opts, depth + 1) for k, v in list(value.items())[:n]}
        if len(value) > n:
            out["…"] = f"{len(value) - n} more"
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)[:n] if not isinstance(value, (set, frozenset)) else sorted(value, key=repr)[:n]
        if depth >= 4:
            return f"<{type(value).__name__} of {len(value)}>"
        out_list = [describe(v, opts, depth + 1) for v in items]
        if len(value) > n:
            out_list.append(f"… {len(value) - n} more")
        return out_list
    if isinstance(value, str):
        return clip_text(value, opts.preview_chars // 4)[0]
    if value is None or isinstance(value, (bool, int, float, complex, bytes, np.generic)):
        return encode_value(value, opts.preview_chars // 4)
    if hasattr(value, "__dict__") and depth < 2:
        fields = {k: describe(v, opts, depth + 1) for k, v in list(vars(value).items())[:n]}
        return {"<object>": f"{type(value).__module__}.{type(value).__qualname__}", **fields}
    return clip_text(f"<{type(value).__module__}.{type(value).__qualname__}>", 200)[0]


def summarize_value(value: Any, opts: ReadOptions, note: str | None = None) -> Any:
    """Arrays and frames get their usual summaries; anything else a bounded outline."""
    if isinstance(value, np.ndarray) and not value.dtype.hasobject:
        return array_summary(value, opts, note=note)
    try:
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return frame_summary(value, opts)
    except ImportError:  # pragma: no cover - pandas is a core dependency
        pass
    length = len(value) if isinstance(value, (Mapping, list, tuple, set, frozenset, str, bytes)) else None
    keys = [str(k) for k in list(value.keys())[: opts.preview_items]] if isinstance(value, Mapping) else None
    preview = describe(value, opts)
    type_name = type(value).__name__ if type(value).__module__ == "builtins" else \
        f"{type(value).__module__}.{type(value).__qualname__}"
    truncated = (length or 0) > opts.preview_items or "…" in str(preview)
    return ValueSummary(type=type_name, length=length, keys=keys, preview=preview, truncated=truncated)


# -- formats -------------------------------------------------------------------------------------

class PickleFormat(Format):
    def __init__(self, compressed: bool = False) -> None:
        self.compressed = compressed

    def _open(self, path: Path) -> IO[bytes]:
        return gzip.open(path, "rb") if self.compressed else open(path, "rb")

    def _checked(self, path: Path, opts: ReadOptions) -> None:
        _check_nonempty(path)
        with self._open(path) as fh:
            if opts.allow_pickle:
                _scan(fh, path.name)
                return
            head, complete = _head(fh, path.name)
        raise _refuse(path.name, *_scan(head, path.name, complete))

    def load(self, path: Path, opts: ReadOptions) -> Any:
        self._checked(path, opts)
        with self._open(path) as fh:
            return _pick(pickle.load(fh), opts.key, "object")  # the workspace allows pickle

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        return summarize_value(self.load(path, opts), opts)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        with open(path, "wb") as fh:
            self.save_stream(data, fh, opts)

    def save_stream(self, data: Any, fh: IO[bytes], opts: WriteOptions) -> None:
        if self.compressed:
            with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
                pickle.dump(data, gz, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)


class JoblibFormat(Format):
    def load(self, path: Path, opts: ReadOptions) -> Any:
        import joblib

        _check_nonempty(path)
        if not opts.allow_pickle:
            raise _refuse(path.name, None, [])
        return _pick(joblib.load(path), opts.key, "object")

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        return summarize_value(self.load(path, opts), opts)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        import joblib

        joblib.dump(data, path)


class TorchFormat(Format):
    """PyTorch's zip checkpoints (and legacy pickles), through torch.load on CPU."""

    def _checked(self, path: Path, opts: ReadOptions) -> None:
        _check_nonempty(path)
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.endswith("data.pkl")]
                if not names:
                    raise CorruptFileError(f"{path.name!r} is a zip file without a PyTorch data.pkl")
                with zf.open(names[0]) as fh:
                    head, complete = _head(fh, path.name)
        else:
            with open(path, "rb") as fh:
                head, complete = _head(fh, path.name)
        protocol, imports = _scan(head, path.name, complete)
        if not opts.allow_pickle:
            raise _refuse(path.name, protocol, imports)

    def load(self, path: Path, opts: ReadOptions) -> Any:
        import torch

        self._checked(path, opts)
        return _pick(torch.load(path, map_location="cpu", weights_only=False), opts.key, "object")  # noqa: S614

    def summarize(self, path: Path, opts: ReadOptions) -> Any:
        return summarize_value(self.load(path, opts), opts)

    def save(self, data: Any, path: Path, opts: WriteOptions) -> None:
        import torch

        torch.save(data, path)


PICKLE = PickleFormat()
PICKLE_GZ = PickleFormat(compressed=True)
JOBLIB = JoblibFormat()
TORCH = TorchFormat()
