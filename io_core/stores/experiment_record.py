"""One trial recorded into an experiment store on behalf of a client (the server's ``record_trial``).

The work is ``TaskWriter.write`` (crash-safe, O(1) per trial); this adds what a server needs
around it: the workspace's sandbox, read-only refusal and reserved folders, arrays built from
JSON with their size checked before allocating (``--max-write-bytes``), waiting briefly for
another client recording the same task, and one provenance ledger record per trial: the
task's ``trials.csv`` with its SHA-256 after the append (so ``verify_file`` checks it), the
row, the attributes and each array's shape, dtype and SHA-256 of the bytes written.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

from io_core.errors import InvalidDataError, ReadOnlyError
from io_core.limits import array_nbytes, check_write

WAIT_S = 10.0  # for another client's trial on the same task


def _arrays(arrays: Mapping[str, Any] | None, dtype: str | None, limits: Any) -> dict[str, Any]:
    import numpy as np

    out: dict[str, Any] = {}
    total = 0
    try:
        want = np.dtype(dtype) if dtype else None
    except TypeError as exc:
        raise InvalidDataError(f"dtype {str(dtype)[:40]!r} is not a NumPy dtype: {exc}") from None
    if want is not None and (want.hasobject or want.subdtype is not None or want.names is not None):
        raise InvalidDataError(f"dtype {dtype!r} is not a plain number, boolean or string type")
    for name, value in (arrays or {}).items():
        total += array_nbytes(value, want, limits, name=f"array {name!r}")
        check_write(total, limits, "the trial's arrays")
        try:
            out[name] = np.asarray(value, dtype=want)
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(f"array {name!r} is not a regular numeric array: {str(exc)[:200]}",
                                   hint="Give nested lists of equal lengths (one trial's array).") from None
    return out


def record_trial(ws: Any, store: str, subject: str, task: str, attrs: Mapping[str, Any],
                 arrays: Mapping[str, Any] | None = None, *, dtype: str | None = None,
                 columns: list[str] | None = None) -> dict[str, Any]:
    """Append one trial to ``store/subject/task`` (made as needed); what was recorded, as plain data."""
    from io_core.stores.experiment import Storage

    if ws.read_only:
        raise ReadOnlyError(f"cannot record into {store!r}")
    real = ws._resolve(store, existing=False)  # refuses the ledger's folder
    data = _arrays(arrays, dtype, ws.limits)
    storage = Storage(real, sandbox=ws.sandbox, limits=ws.limits)
    storage.subject_id = subject
    with storage.open_task(task, columns=columns, wait=WAIT_S) as writer:
        recovered = dict(writer.recovered)
        row = writer.write(dict(attrs), data)
        fd, n = writer.trials.fd, writer.n_trials
        size = os.fstat(fd).st_size
        digest = hashlib.sha256()
        pos = 0
        while chunk := os.pread(fd, 1 << 20, pos):
            digest.update(chunk)
            pos += len(chunk)
        trials_path = writer.real / "trials.csv"
        columns_now = list(writer.trials.columns)
    described = {name: {"shape": list(a.shape), "dtype": a.dtype.str,
                        "sha256": hashlib.sha256(a.tobytes()).hexdigest()} for name, a in data.items()}
    recorded = ws.provenance.saved(
        path=trials_path, format="experiment", sha256=digest.hexdigest(), size=size, operation="record_trial",
        arguments={"store": ws.sandbox.display(real), "subject": subject, "task": task, "row": row,
                   "attrs": dict(attrs), "arrays": described},
    )
    return {"store": ws.sandbox.display(real), "subject": subject, "task": task, "row": row, "n_trials": n,
            "columns": columns_now, "arrays": {k: {"shape": v["shape"], "dtype": v["dtype"]} for k, v in described.items()},
            "trials_path": ws.sandbox.display(trials_path), "sha256": digest.hexdigest(), "recorded": recorded,
            "recovered": recovered or None}
