"""A content-addressed result store: a result computed once is found again by its input and meta.

``ResultStore`` keeps results in corelay 1.0.0's ``HashedHDF5`` layout (``results_layout``), so
files written by corelay's processors are read here and entries written here are read by
corelay's ``HashedHDF5.read`` (with the ``corelay`` key scheme). The key scheme
(``results_keys``: ``sha256`` by default, or ``corelay``) is recorded in the store group's
attributes when we first write; a store corelay wrote (no attributes) is read with the
``corelay`` scheme, pickle protocol 4 and, if nothing is found, 5 (Python 3.14's default).

``FlatStore`` is ``HDF5Storage``'s flat keyed layout and ``NoStore`` stores nothing (corelay's
``NoStorage``: every read misses), both in ``results_flat``. Every write is a copy-on-write transaction
(``results_cow``), recorded in the workspace's provenance ledger with the input's canonical
SHA-256 as its lineage; nothing is overwritten unless asked (ENTRY_EXISTS), and nothing is
served that was stored for another input (HASH_COLLISION). Reads walk the file one link at a
time (never out of the roots) and see the file as it is now: a store replaced by another
writer is reopened on the next call.

    with ResultStore("cache.h5", "preprocess", workspace=ws) as store:
        if store.exists(x, meta):
            y = store.read(x, meta)
        else:
            y = compute(x)
            store.write(y, x, meta)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from io_core.errors import CorruptFileError, KeyNotFoundError, ReadOnlyError
from io_core.limits import Limits, current
from io_core.paths import Sandbox
from io_core.stores import results_layout as layout
from io_core.stores.results_cow import transaction
from io_core.stores.results_errors import (
    CorruptEntryError,
    EntryExistsError,
    HashCollisionError,
    NotAStoreError,
    ResultNotFoundError,
    SchemeMismatchError,
)
from io_core.stores.results_keys import (
    CORELAY_PROTOCOL,
    CorelayScheme,
    KeyScheme,
    Sha256Scheme,
    is_key,
    make_scheme,
)

FORMAT = "result_store"
MAX_RECORDED_KEYS = 20
REOPEN_ATTEMPTS = 5


@dataclass
class WriteReceipt:
    """What one write (or batch) did: the keys written, the store file's new SHA-256, the ledger row."""

    path: str
    keys: list[str]
    sha256: str
    size_bytes: int
    overwritten: list[str]
    recorded: bool


@dataclass
class _Op:
    key: str
    data_out: Any
    meta_text: str
    input_hashes: Any
    output_hashes: Any
    input_sha256: str
    meta: Any


class _Backing:
    """The store file as a workspace (or a bare sandbox) sees it: path, sandbox, ledger, limits, read-only."""

    def __init__(self, path: str | os.PathLike[str], workspace: Any, sandbox: Sandbox | None, provenance: Any,
                 limits: Limits | None, read_only: bool, lock_timeout: float) -> None:
        if workspace is not None:
            self.sandbox = workspace.sandbox
            self.provenance = workspace.provenance if provenance is None else provenance
            self.limits = limits or workspace.limits
            self.read_only = read_only or workspace.read_only
            self.real = workspace._resolve(path, existing=False)  # also refuses the ledger's folder
        else:
            self.sandbox = sandbox or Sandbox(None)
            self.provenance = provenance
            self.limits = limits or current()
            self.read_only = read_only
            self.real = self.sandbox.resolve(path)
        self.lock_timeout = lock_timeout
        self._pinned: Any = None
        self._reader: layout.Reader | None = None
        self._stamp: tuple | None = None

    @property
    def walk_sandbox(self) -> Sandbox | None:
        return self.sandbox if self.sandbox.confined else None

    def display(self) -> str:
        return self.sandbox.display(self.real)

    def _now(self) -> tuple | None:
        try:
            st = os.stat(self.real)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def reader(self) -> layout.Reader | None:
        """The file as it is now (reopened when another write replaced it); None when there is no file yet."""
        now = self._now()
        if now is not None and now == self._stamp and self._reader is not None:
            return self._reader
        self.close()
        if now is None:
            return None
        from io_core.formats.hdf5 import guard as h5guard

        for attempt in range(REOPEN_ATTEMPTS):
            pinned = self.sandbox.pin(self.real)
            try:
                f, _ = h5guard.open_walked(pinned.path)  # links are walked by layout.Reader, one at a time
                break
            except CorruptFileError:
                pinned.close()
                # a writer renamed a new file over the pinned one meanwhile: libhdf5 cannot take the real
                # path of a deleted inode ("can't retrieve real path"); pin the new file
                if attempt + 1 == REOPEN_ATTEMPTS or self._now() == now:
                    raise
                now = self._now()
            except BaseException:
                pinned.close()
                raise
        self._pinned, self._stamp = pinned, (pinned.stat.st_dev, pinned.stat.st_ino, pinned.stat.st_size,
                                             pinned.stat.st_mtime_ns)
        self._reader = layout.Reader(f, pinned.path, self.walk_sandbox, self.limits)
        return self._reader

    def close(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(Exception):
                self._reader.f.close()
        if self._pinned is not None:
            self._pinned.close()
        self._reader = self._pinned = self._stamp = None

    def commit(self, change: Any, *, operation: str, arguments: dict[str, Any],
               inputs: list[tuple[str, str]]) -> tuple[Any, str, int, bool]:
        if self.read_only:
            raise ReadOnlyError(f"cannot write the result store {self.display()!r}")
        self.close()  # the file is replaced: the next read opens the new one
        result, sha256, size = transaction(self.real, change, sandbox=self.sandbox if self.sandbox.confined else None,
                                           lock_timeout=self.lock_timeout)
        recorded = False
        if self.provenance is not None:
            recorded = self.provenance.saved(path=self.real, format=FORMAT, sha256=sha256, size=size,
                                             operation=operation, arguments=arguments, inputs=inputs)
        return result, sha256, size, recorded


class ResultStore:
    """corelay's ``HashedHDF5`` over ``group`` of the HDF5 file at ``path`` (created on the first write).

    ``scheme``: "sha256" or "corelay" (default: what the store records; a new store: sha256).
    ``pickle_protocol``: the corelay scheme's (default: as recorded, else 4). ``workspace``: its
    roots, ledger, limits and read-only flag apply (else ``sandbox`` / ``provenance``).
    """

    def __init__(self, path: str | os.PathLike[str], group: str = "/", *, scheme: str | None = None,
                 pickle_protocol: int | None = None, workspace: Any = None, sandbox: Sandbox | None = None,
                 provenance: Any = None, limits: Limits | None = None, read_only: bool = False,
                 lock_timeout: float = 10.0) -> None:
        if scheme is not None:
            make_scheme(scheme, pickle_protocol)  # INVALID_DATA for an unknown scheme, now
        self.group = "/" + group.strip("/")
        self.asked = scheme
        self.asked_protocol = pickle_protocol
        self._io = _Backing(path, workspace, sandbox, provenance, limits, read_only, lock_timeout)
        self._batch: list[_Op] | None = None
        self._batch_overwrite = False
        self._batch_inputs: list[tuple[str, str]] = []
        self.last_receipt: WriteReceipt | None = None  # what the last batch() wrote

    # -- the scheme ----------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._io.real

    def _schemes(self, group: Any, r: layout.Reader | None) -> list[KeyScheme]:
        """The scheme(s) to key with: the recorded one, corelay's two protocols for an unmarked corelay store."""
        marked = layout.marks(group) if group is not None else {}
        recorded = marked.get("sciio_key_scheme")
        if recorded is not None:
            protocol = marked.get("sciio_pickle_protocol")
            if self.asked is not None and self.asked != recorded or (
                    recorded == "corelay" and self.asked_protocol not in (None, protocol)):
                asked = self.asked or recorded
                raise SchemeMismatchError(
                    f"the store {self.group!r} records the {recorded} scheme"
                    f"{f' (pickle protocol {protocol})' if recorded == 'corelay' else ''}; {asked} was asked"
                    f"{f' with protocol {self.asked_protocol}' if self.asked_protocol else ''}")
            return [make_scheme(str(recorded), int(protocol) if recorded == "corelay" and protocol else None)]
        if group is not None and r is not None and len(group) and layout.looks_like_store(r, group):
            if self.asked == "sha256":
                raise SchemeMismatchError(
                    f"the store {self.group!r} records no scheme and holds entries: corelay wrote it",
                    hint="Open it with scheme='corelay' (or leave scheme unset).")
            if self.asked_protocol is not None:
                return [CorelayScheme(self.asked_protocol)]
            return [CorelayScheme(CORELAY_PROTOCOL), CorelayScheme(5)]
        if self.asked == "corelay":
            return [CorelayScheme(CORELAY_PROTOCOL if self.asked_protocol is None else self.asked_protocol)]
        return [Sha256Scheme()]

    def _state(self) -> tuple[layout.Reader | None, Any, list[KeyScheme]]:
        r = self._io.reader()
        group = r.group(self.group) if r is not None else None
        return r, group, self._schemes(group, r)

    @property
    def scheme(self) -> KeyScheme:
        """The scheme new entries are keyed with."""
        return self._state()[2][0]

    def key(self, data_in: Any, meta: Any = None) -> str:
        return self.scheme.key(data_in, meta)

    # -- reading -------------------------------------------------------------------------------
    def _find(self, data_in: Any, meta: Any) -> tuple[str, Any, layout.Reader | None, KeyScheme]:
        """(key, entry group or None, reader, scheme); the entry's input hashes and meta checked."""
        r, group, schemes = self._state()
        first = None
        for scheme in schemes:
            hashes = scheme.hashes(data_in) if isinstance(scheme, Sha256Scheme) else None
            key = scheme.key(data_in, meta, hashes)
            first = first or (key, scheme)
            entry = r.find(group, key) if group is not None else None
            if entry is not None:
                self._verify(r, entry, key, scheme, hashes if hashes is not None else scheme.hashes(data_in), meta)
                return key, entry, r, scheme
        return first[0], None, r, first[1]

    def _verify(self, r: layout.Reader, entry: Any, key: str, scheme: KeyScheme, hashes: Any, meta: Any) -> None:
        import json

        try:
            stored_input = json.loads(r.text(entry, "input"))
            stored_meta = r.text(entry, "meta")
        except KeyNotFoundError as exc:
            raise CorruptEntryError(f"entry {key!r} lacks a member: {exc.message}") from None
        except ValueError:
            raise CorruptEntryError(f"entry {key!r} holds input hashes that are not JSON") from None
        if stored_input != json.loads(json.dumps(hashes)):
            raise HashCollisionError(
                f"entry {key!r} was stored for another input (its stored input hashes differ from this input's)")
        if not scheme.same_meta(stored_meta, meta):
            raise HashCollisionError(f"entry {key!r} was stored for another meta ({stored_meta[:80]!r})")

    def exists(self, data_in: Any, meta: Any = None) -> bool:
        """Whether a result is stored for this input and meta (HASH_COLLISION if the key holds another's)."""
        return self._find(data_in, meta)[1] is not None

    def lookup(self, data_in: Any, meta: Any = None) -> tuple[str, KeyScheme, layout.Entry | None]:
        """(key, the scheme that keyed it, the entry described: meta, hashes, data shapes; None when none)."""
        key, entry, r, scheme = self._find(data_in, meta)
        return key, scheme, (layout.describe(r, r.group(self.group), key) if entry is not None else None)

    @property
    def found(self) -> bool:
        """Whether the store file exists."""
        return self._io.reader() is not None

    def read(self, data_in: Any, meta: Any = None) -> Any:
        """The stored result (a tuple stays a tuple, in order); RESULT_NOT_FOUND when there is none."""
        key, entry, r, _ = self._find(data_in, meta)
        if entry is None:
            raise ResultNotFoundError(f"no result stored for this input and meta (key {key}) in {self.group!r}")
        data = r.find(entry, "data")
        if data is None:
            raise CorruptEntryError(f"entry {key!r} has no data")
        return r.tuple_value(data)

    def read_key(self, key: str) -> Any:
        """The result stored under ``key`` (no input needed; nothing checked against one)."""
        r, group, _ = self._state()
        entry = r.find(group, key) if group is not None and is_key(key) else None
        if entry is None:
            raise ResultNotFoundError(f"no entry {key[:40]!r} in {self.group!r}")
        return r.tuple_value(r.get(entry, "data"))

    def keys(self) -> list[str]:
        """The entries' keys (name order)."""
        _, group, _ = self._state()
        return [n for n in group if is_key(n)] if group is not None else []

    def entry(self, key: str) -> layout.Entry:
        r, group, _ = self._state()
        if group is None or not is_key(key) or r.find(group, key) is None:
            raise ResultNotFoundError(f"no entry {key[:40]!r} in {self.group!r}")
        return layout.describe(r, group, key)

    def __iter__(self) -> Iterator[layout.Entry]:
        """Every entry with its meta, input/output hashes and data shapes (damaged ones say why)."""
        r, group, _ = self._state()
        if group is None:
            return
        for name in list(group):
            if is_key(name):
                yield layout.describe(r, group, name)

    def __len__(self) -> int:
        return len(self.keys())

    def __contains__(self, key: object) -> bool:
        r, group, _ = self._state()
        return isinstance(key, str) and is_key(key) and group is not None and r.find(group, key) is not None

    # -- writing -------------------------------------------------------------------------------
    def _op(self, data_out: Any, data_in: Any, meta: Any, scheme: KeyScheme) -> _Op:
        data_out = layout.check_tuple_value(data_out)
        canonical = Sha256Scheme()
        exact = canonical.hashes(data_in)
        hashes = exact if isinstance(scheme, Sha256Scheme) else scheme.hashes(data_in)
        return _Op(key=scheme.key(data_in, meta, hashes), data_out=data_out, meta_text=scheme.meta_text(meta),
                   input_hashes=hashes, output_hashes=scheme.hashes(data_out),
                   input_sha256=canonical.input_digest(data_in, exact), meta=meta)

    def write(self, data_out: Any, data_in: Any, meta: Any = None, *, overwrite: bool = False,
              inputs: list[str | os.PathLike[str]] | None = None) -> WriteReceipt | None:
        """Store ``data_out`` (an array, or tuples of arrays, nested) as the result of ``data_in`` and ``meta``.

        ENTRY_EXISTS when stored already (``overwrite`` replaces it); ``inputs``: the files
        ``data_in`` was read from, for the ledger's lineage. Inside ``batch()`` nothing is written
        until the batch ends (returns None).
        """
        op = self._op(data_out, data_in, meta, self.scheme)
        if self._batch is not None:
            self._batch.append(op)
            self._batch_overwrite |= overwrite
            self._batch_inputs += self._input_refs(inputs)
            return None
        return self._commit([op], overwrite, self._input_refs(inputs))

    @contextlib.contextmanager
    def batch(self) -> Iterator[ResultStore]:
        """Writes made inside go to the file in one transaction at the end (all or none)."""
        if self._batch is not None:
            yield self
            return
        self._batch, self._batch_overwrite, self._batch_inputs = [], False, []
        try:
            yield self
            ops, overwrite, inputs = self._batch, self._batch_overwrite, self._batch_inputs
        finally:
            self._batch = None
        if ops:
            self.last_receipt = self._commit(ops, overwrite, inputs)

    def _input_refs(self, inputs: list[str | os.PathLike[str]] | None) -> list[tuple[str, str]]:
        if not inputs:
            return []
        paths = [self._io.sandbox.existing_file(p) for p in inputs]
        prov = self._io.provenance
        return prov.input_refs(paths) if prov is not None else []

    def _commit(self, ops: list[_Op], overwrite: bool, inputs: list[tuple[str, str]]) -> WriteReceipt:
        scheme_name = self.scheme.name

        def change(f: Any) -> list[str]:
            replaced: list[str] = []
            r = layout.Reader(f, Path(f.filename), None, self._io.limits)
            group = f.require_group(self.group) if self.group != "/" else f["/"]
            schemes = self._schemes(group, r)  # as the file is now, under the lock
            if schemes[0].name != scheme_name:
                raise SchemeMismatchError(f"the store {self.group!r} now records the {schemes[0].name} scheme")
            if not layout.marks(group).get("sciio_key_scheme"):
                if len(group) and not layout.looks_like_store(r, group):
                    raise NotAStoreError(f"{self.group!r} holds other objects; it is not a result store")
                for name, value in {**schemes[0].attrs(), "sciio_store": layout.STORE_MARK}.items():
                    group.attrs[name] = value
            for op in ops:
                if group.id.links.exists(op.key.encode()):  # the link alone: nothing behind it is opened
                    self._replaceable(r, group, op, overwrite, schemes[0])
                    del group[op.key]
                    replaced.append(op.key)
                layout.write_entry(group, op.key, op.data_out, op.meta_text, op.input_hashes, op.output_hashes)
            return replaced

        lineage = inputs or [(f"{self._io.real}#{self.group.rstrip('/')}/{op.key}/input", op.input_sha256)
                             for op in ops[:MAX_RECORDED_KEYS]]
        replaced, sha256, size, recorded = self._io.commit(
            change, operation="write_result", inputs=lineage,
            arguments={"group": self.group, "scheme": scheme_name, "keys": [op.key for op in ops[:MAX_RECORDED_KEYS]],
                       "n_entries": len(ops), "overwrite": overwrite, "meta": ops[0].meta if len(ops) == 1 else None})
        return WriteReceipt(path=self._io.display(), keys=[op.key for op in ops], sha256=sha256, size_bytes=size,
                            overwritten=replaced, recorded=recorded)

    def _replaceable(self, r: layout.Reader, group: Any, op: _Op, overwrite: bool, scheme: KeyScheme) -> None:
        """An existing entry under ``op.key``: replaced only with ``overwrite``; the error says what it holds."""
        if overwrite:
            return
        entry = r.find(group, op.key)
        if not isinstance(entry, type(group)):
            raise CorruptEntryError(f"{op.key!r} in {self.group!r} is not an entry group",
                                    hint="Pass overwrite=True to replace it.")
        self._verify(r, entry, op.key, scheme, op.input_hashes, op.meta)  # HASH_COLLISION / CORRUPT_ENTRY
        raise EntryExistsError(f"a result for this input and meta is stored already (key {op.key})")

    # -- lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        self._io.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultStore({self._io.display()!r}, {self.group!r})"
