"""``lookup_result``: is a result stored for this input file and meta? (so an agent can skip recomputing)

The input is a file inside the roots (and a key inside it), loaded through the workspace
like any other read; a group loaded as ``{"000": ..., "001": ...}`` (corelay's tuple layout,
e.g. a result stored in another store) is the tuple it stands for. Meta given as JSON is keyed
as corelay's processors key theirs: a top-level object is an ``OrderedDict`` in the JSON's
order (the sha256 scheme does not depend on order or mapping type); a string holding JSON is
parsed first. Nothing is written: the store is opened read-only, and a store file that does
not exist is FILE_NOT_FOUND.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import BaseModel, Field

from io_core.budget import fit
from io_core.errors import FileNotFoundIOError
from io_core.stores.results_keys import CorelayScheme, corelay_meta


class StoredData(BaseModel):
    key: str = Field(description="read_slice key of this stored array (in the store file)")
    shape: list[int] | None = None
    dtype: str


class ResultLookup(BaseModel):
    """Whether a result is stored for an input and meta, under which key, and what it holds."""

    store: str
    group: str
    scheme: str = Field(description="the key scheme used: sha256 or corelay")
    pickle_protocol: int | None = Field(default=None, description="corelay scheme: the pickle protocol keyed with")
    key: str = Field(description="the entry's key (32 hex characters)")
    exists: bool
    input: str
    input_key: str | None = None
    data: list[StoredData] = Field(default_factory=list, description="the stored arrays (first ones)")
    info: dict[str, Any] = Field(default_factory=dict, description="stored meta, input and output hashes")
    hint: str = ""
    truncated: bool = False


def as_store_value(value: Any) -> Any:
    """A loaded group whose members are all digits ("000", "001", ...) is the tuple corelay stored."""
    if isinstance(value, dict):
        items = {k: as_store_value(v) for k, v in value.items()}
        if items and all(isinstance(k, str) and k.isdigit() for k in items):
            return tuple(items[k] for k in sorted(items, key=int))
        return items
    return value


def parse_meta(meta: Any) -> Any:
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            return meta  # a plain string is a meta value too
    return corelay_meta(meta)


def lookup_result(ws: Any, store: str | os.PathLike[str], input: str | os.PathLike[str], *,
                  input_key: str | None = None, meta: Any = None, scheme: str | None = None, group: str = "/",
                  pickle_protocol: int | None = None, max_bytes: int | None = None) -> ResultLookup:
    from io_core.stores.results import ResultStore  # h5py, numpy: on first use

    data_in = as_store_value(ws.load(input, key=input_key))
    meta = parse_meta(meta)
    with ResultStore(store, group, scheme=scheme, pickle_protocol=pickle_protocol, workspace=ws,
                     read_only=True) as st:
        if not st.found:
            raise FileNotFoundIOError(f"no result store file {os.fspath(store)[:120]!r}", path=os.fspath(store))
        key, used, entry = st.lookup(data_in, meta)
        prefix = "/".join(p for p in (st.group.strip("/"), key) if p)
        result = ResultLookup(
            store=ws.sandbox.display(st.path), group=st.group, scheme=used.name,
            pickle_protocol=used.protocol if isinstance(used, CorelayScheme) else None, key=key,
            exists=entry is not None, input=ws.sandbox.display(ws.sandbox.resolve(input)), input_key=input_key)
    if entry is None:
        result.hint = "Nothing is stored for this input and meta: compute it (and store it with ResultStore.write)."
        return fit(result, max_bytes)
    result.data = [StoredData(key=f"{prefix}/{leaf['path']}", shape=leaf["shape"], dtype=leaf["dtype"])
                   for leaf in entry.data]
    result.info = {"meta": entry.meta, "input": entry.input, "output": entry.output}
    if entry.problem:
        result.info["problem"] = entry.problem
    result.truncated = entry.data_truncated
    result.hint = (f"read_slice(path={result.store!r}, key=<a data key>) reads the stored values; "
                   "load_summary(path, key=<group>/<key>, format='result_store') describes the entry.")
    return fit(result, max_bytes)
