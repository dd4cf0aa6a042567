"""corelay's ``HDF5Storage`` (a flat keyed store) and ``NoStorage`` (a store that keeps nothing).

Written and read like ``ResultStore`` (``io_core.stores.results``): copy-on-write transactions
recorded in the ledger, reads walked one link at a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

from io_core.errors import KeyNotFoundError
from io_core.limits import Limits
from io_core.paths import Sandbox
from io_core.stores import results_layout as layout
from io_core.stores.results import WriteReceipt, _Backing
from io_core.stores.results_errors import EntryExistsError, ResultNotFoundError


class FlatStore:
    """corelay's ``HDF5Storage`` layout: one value per ``data_key`` in a flat HDF5 file.

    A dict is a group of members, a tuple a group "0", "1", ... (read back as a tuple, in
    order), a scalar a 0-d dataset, a string UTF-8. Rewriting a key is ENTRY_EXISTS unless
    ``overwrite`` (corelay keeps the old values silently).
    """

    def __init__(self, path: str | os.PathLike[str], *, workspace: Any = None, sandbox: Sandbox | None = None,
                 provenance: Any = None, limits: Limits | None = None, read_only: bool = False,
                 lock_timeout: float = 10.0) -> None:
        self._io = _Backing(path, workspace, sandbox, provenance, limits, read_only, lock_timeout)

    def _key(self, key: str) -> str:
        key = str(key).strip("/")
        if not key or any(p in ("", ".", "..") for p in key.split("/")):
            raise KeyNotFoundError(f"{key!r} cannot name an HDF5 member", hint="Use names like 'a' or 'a/b'.")
        return key

    def exists(self, key: str) -> bool:
        r = self._io.reader()
        if r is None:
            return False
        return _lookup(r, self._key(key)) is not None

    def read(self, key: str) -> Any:
        r = self._io.reader()
        obj = _lookup(r, self._key(key)) if r is not None else None
        if obj is None:
            raise ResultNotFoundError(f"no value {key!r} in {self._io.display()!r}",
                                      hint="keys() lists the stored keys.")
        return r.flat_value(obj)

    def write(self, key: str, value: Any, *, overwrite: bool = False) -> WriteReceipt:
        key = self._key(key)
        value = layout.check_flat_value(value)

        def change(f: Any) -> list[str]:
            f.attrs["sciio_store"] = layout.FLAT_MARK
            if _lookup(layout.Reader(f, Path(f.filename), None, self._io.limits), key) is not None:
                if not overwrite:
                    raise EntryExistsError(f"{key!r} is stored already", hint="Pass overwrite=True to replace it.")
                del f[key]
                replaced = [key]
            else:
                replaced = []
            parent, _, name = key.rpartition("/")
            layout.write_flat_value(f.require_group(parent) if parent else f["/"], name, value)
            return replaced

        replaced, sha256, size, recorded = self._io.commit(
            change, operation="write_value", arguments={"key": key, "overwrite": overwrite}, inputs=[])
        return WriteReceipt(path=self._io.display(), keys=[key], sha256=sha256, size_bytes=size,
                            overwritten=replaced, recorded=recorded)

    def keys(self) -> list[str]:
        r = self._io.reader()
        return list(r.f) if r is not None else []

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def close(self) -> None:
        self._io.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _lookup(r: layout.Reader, key: str) -> Any:
    return r.find(r.f["/"], key)


class NoStore:
    """Stores nothing: every read misses (RESULT_NOT_FOUND), writes do nothing (corelay's ``NoStorage``)."""

    def exists(self, *args: Any, **kwargs: Any) -> bool:
        return False

    def read(self, *args: Any, **kwargs: Any) -> Any:
        raise ResultNotFoundError("nothing is stored here (a no-op store)",
                                  hint="Use a ResultStore to keep results between runs.")

    def write(self, *args: Any, **kwargs: Any) -> None:
        return None

    def keys(self) -> list[str]:
        return []

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
