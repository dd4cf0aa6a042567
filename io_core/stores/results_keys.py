"""Keys of the result store: which input and meta a stored result belongs to.

Two schemes; the store records its scheme in its attributes (``results_layout``).

``sha256`` (the default; version 1), independent of Python version, pickle and
``dict`` vs ``OrderedDict``, with no rounding. Every value has a canonical byte encoding
``E`` and a digest ``D(v) = sha256(E(v))``; ``u64`` is an unsigned 64-bit little-endian
integer::

    E(None)    = b"N"
    E(bool)    = b"B" + b"\\x01" or b"\\x00"
    E(int)     = b"I" + u64(len(s)) + s            s: the decimal ASCII digits ("-" for negatives)
    E(float)   = b"F" + IEEE-754 binary64, little-endian (every NaN as 0x7ff8000000000000)
    E(str)     = b"S" + u64(n) + the UTF-8 bytes
    E(bytes)   = b"Y" + u64(n) + the bytes
    E(array)   = b"A" + u64(len(d)) + d + u64(ndim) + u64(dim) for each dim + u64(nbytes) + data
                 d: numpy's descr of the dtype in little-endian byte order as canonical JSON
                 ("<f8", [["x","<i4"]]), data: the values' exact bytes, C order, little-endian;
                 NumPy scalars and objects with __array__ are 0-d / n-d arrays; object arrays refused
    E(tuple)   = b"T" + u64(n) + D(item) for each item     (a tuple is the store's structure)
    E(list)    = b"L" + u64(n) + D(item) for each item
    E(mapping) = b"M" + u64(n) + D(k) + D(v) for each item, sorted by D(k)   (dict == OrderedDict)

    meta text  = json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                 allow_nan=False), NumPy scalars as their Python values
    key        = sha256(b"sciio-result-key\\x00" + u64(1) + D(data_in) + sha256(meta text)), first 32 hex

The element-wise input/output hashes stored beside each entry are ``D`` of each leaf (hex,
64 characters), nested lists for nested tuples, so the key is computed from them (one pass
over the data) and a read compares them with the caller's: a different input under the same
key is a HASH_COLLISION, never a served result.

``corelay``: corelay 1.0.0's ``ext_hash((data_in, meta))``: MetroHash128 (seed 0, hex) of the
stream of a ``pickle.Pickler`` whose ``persistent_id`` replaces each ndarray (and torch
tensor) by ``(dtype.name, shape, bytes of its frexp mantissas rounded to 2 decimals, bytes of
its exponents)``. The pickle protocol is part of the key: corelay pickles with Python's
default, 4 up to Python 3.13 (``CORELAY_PROTOCOL``) and 5 from 3.14, so it is pinned and
recorded. The pickled container types are part of the key too: corelay's processors pass
their meta as an ``OrderedDict``, which keys differently from a ``dict`` with the same items.
MetroHash128 comes from the ``metrohash`` binding (PyPI ``metrohash`` or ``metrohash-python``,
both install the module ``metrohash``), imported on first use.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import struct
import sys
from collections.abc import Mapping
from typing import Any

from io_core.errors import InvalidDataError, MissingDependencyError

SCHEMES = ("sha256", "corelay")
DEFAULT_SCHEME = "sha256"
SHA256_VERSION = 1
CORELAY_PROTOCOL = 4  # pickle.DEFAULT_PROTOCOL of Python 3.8-3.13; corelay 1.0.0 needs Python >= 3.11
CORELAY_PROTOCOLS = (4, 5)
KEY_CHARS = 32
KEY_PREFIX = b"sciio-result-key\x00" + struct.pack("<Q", SHA256_VERSION)
_NAN = struct.pack("<d", math.nan)  # 0x7ff8000000000000


def u64(n: int) -> bytes:
    return struct.pack("<Q", n)


def is_key(name: str) -> bool:
    """Whether ``name`` can be an entry's key: 32 lower-case hex characters (both schemes)."""
    return len(name) == KEY_CHARS and all(c in "0123456789abcdef" for c in name)


# -- sha256: the canonical encoding ------------------------------------------------------------

def _array_bytes(a: Any) -> tuple[bytes, Any]:
    """(E(array) without its data, the data as a C-ordered little-endian buffer)."""
    import numpy as np
    from numpy.lib import format as npformat

    if a.dtype.hasobject:
        raise InvalidDataError(
            f"an object array ({a.dtype}) has no canonical bytes to hash",
            hint="Convert it to a numeric, string or structured dtype (or a tuple of arrays) first.")
    dtype = a.dtype.newbyteorder("<")  # every field and sub-array too; "|" (bytes) stays as it is
    if dtype.names is not None:  # packed: no padding bytes (their content is undefined)
        dtype = np.dtype([(n, dtype.fields[n][0]) for n in dtype.names])
    data = np.ascontiguousarray(a, dtype=dtype)
    descr = json.dumps(npformat.dtype_to_descr(dtype), separators=(",", ":"), ensure_ascii=False).encode()
    head = b"A" + u64(len(descr)) + descr + u64(data.ndim) + b"".join(u64(d) for d in data.shape) + u64(data.nbytes)
    return head, memoryview(data.reshape(-1).view(np.uint8)) if data.size else b""


def digest(value: Any, depth: int = 0) -> bytes:
    """``D(value)``: the SHA-256 of its canonical encoding (see the module docstring)."""
    h = hashlib.sha256()
    _encode(value, h, depth)
    return h.digest()


def _encode(v: Any, h: Any, depth: int) -> None:
    if depth > 200:
        raise InvalidDataError("the value is nested more than 200 levels deep", hint="Flatten it.")
    import numpy as np

    if v is None:
        h.update(b"N")
    elif isinstance(v, (np.ndarray, np.generic)):
        head, data = _array_bytes(np.asarray(v))
        h.update(head)
        h.update(data)
    elif isinstance(v, bool):
        h.update(b"B\x01" if v else b"B\x00")
    elif isinstance(v, int):
        s = str(int(v)).encode()
        h.update(b"I" + u64(len(s)) + s)
    elif isinstance(v, float):
        h.update(b"F" + (_NAN if math.isnan(v) else struct.pack("<d", v)))
    elif isinstance(v, str):
        b = v.encode("utf-8", "surrogatepass")
        h.update(b"S" + u64(len(b)) + b)
    elif isinstance(v, (bytes, bytearray, memoryview)):
        b = bytes(v)
        h.update(b"Y" + u64(len(b)) + b)
    elif isinstance(v, tuple):
        h.update(b"T" + u64(len(v)) + b"".join(digest(x, depth + 1) for x in v))
    elif isinstance(v, list):
        h.update(b"L" + u64(len(v)) + b"".join(digest(x, depth + 1) for x in v))
    elif isinstance(v, Mapping):
        pairs = sorted((digest(k, depth + 1), digest(x, depth + 1)) for k, x in v.items())
        h.update(b"M" + u64(len(pairs)) + b"".join(k + x for k, x in pairs))
    elif hasattr(v, "__array__"):
        _encode(np.asarray(v), h, depth)
    else:
        raise InvalidDataError(
            f"a {type(v).__name__} has no canonical encoding for the sha256 key scheme",
            hint="Inputs are arrays, numbers, strings, bytes, None, and tuples/lists/dicts of them.")


def canonical_meta(meta: Any) -> str:
    """The meta as canonical JSON (sorted keys, compact, no NaN): what the sha256 scheme keys and stores."""
    try:
        return json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                          default=_json_default)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"the meta is not JSON data: {exc}",
                               hint="Meta holds JSON values (numbers, strings, lists, string-keyed dicts).") from None


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON data")


# -- corelay: corelay.io.hashing.ext_hash, pinned protocol -------------------------------------

def _metrohash() -> Any:
    try:
        from metrohash import MetroHash128
    except ImportError as exc:
        raise MissingDependencyError(
            "the corelay key scheme needs MetroHash128 (the metrohash module is not installed)",
            hint="pip install metrohash") from exc
    return MetroHash128


class _Sink:
    """A file-like front of a MetroHash128 for the pickler (corelay's ``Hasher.write``)."""

    __slots__ = ("hasher",)

    def __init__(self, hasher: Any) -> None:
        self.hasher = hasher

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return len(data)


class _CorelayPickler(pickle.Pickler):
    """corelay's ``HashPickler``: arrays (and torch tensors) replaced by their rounded frexp parts."""

    @staticmethod
    def numpy_id(array: Any) -> tuple:
        import numpy

        mantissa, exponent = numpy.frexp(array)
        numpy.around(mantissa, decimals=2, out=mantissa)
        return (array.dtype.name, array.shape, bytes(mantissa), bytes(exponent))

    def persistent_id(self, obj: Any) -> Any:
        import numpy

        if isinstance(obj, numpy.ndarray):
            return self.numpy_id(obj)
        torch = sys.modules.get("torch")  # a tensor can only be here if torch is imported already
        if torch is not None and isinstance(obj, torch.Tensor):
            return self.numpy_id(obj.numpy())
        return None


def corelay_hash(obj: Any, protocol: int = CORELAY_PROTOCOL) -> str:
    """``corelay.io.hashing.ext_hash(obj)`` as corelay computes it under pickle ``protocol``."""
    hasher = _metrohash()()
    try:
        _CorelayPickler(_Sink(hasher), protocol=protocol).dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidDataError(f"the corelay key scheme cannot hash this value: {type(exc).__name__}: {exc}",
                               hint="corelay hashes what pickle can write; arrays must be numeric.") from None
    return hasher.hexdigest()


def metrohash128_hex(data: bytes) -> str:
    """MetroHash128 (seed 0) of raw bytes, hex: the primitive the corelay scheme uses."""
    hasher = _metrohash()()
    hasher.update(data)
    return hasher.hexdigest()


# -- the schemes --------------------------------------------------------------------------------

class KeyScheme:
    """How one store computes keys, element-wise hashes and the stored meta text."""

    name: str = ""

    def leaf_hash(self, value: Any) -> str:
        raise NotImplementedError

    def hashes(self, data: Any) -> Any:
        """Element-wise hashes: a hex string for a leaf, a list for a tuple (nested); stored as JSON."""
        if isinstance(data, tuple):
            return [self.hashes(item) for item in data]
        return self.leaf_hash(data)

    def key(self, data_in: Any, meta: Any, input_hashes: Any = None) -> str:
        raise NotImplementedError

    def meta_text(self, meta: Any) -> str:
        raise NotImplementedError

    def same_meta(self, stored: str, meta: Any) -> bool:
        raise NotImplementedError

    def attrs(self) -> dict[str, Any]:
        """What the store records about the scheme in its attributes."""
        raise NotImplementedError


class Sha256Scheme(KeyScheme):
    name = "sha256"

    def leaf_hash(self, value: Any) -> str:
        return digest(value).hex()

    def _tree_digest(self, hashes: Any) -> bytes:
        """D(data_in) from its element-wise hashes (a tuple's encoding holds its items' digests)."""
        if isinstance(hashes, list):
            return hashlib.sha256(b"T" + u64(len(hashes)) + b"".join(self._tree_digest(h) for h in hashes)).digest()
        return bytes.fromhex(hashes)

    def input_digest(self, data_in: Any, input_hashes: Any = None) -> str:
        """D(data_in), hex: the input's canonical SHA-256 (also its lineage in the ledger)."""
        return self._tree_digest(self.hashes(data_in) if input_hashes is None else input_hashes).hex()

    def key(self, data_in: Any, meta: Any, input_hashes: Any = None) -> str:
        tree = self._tree_digest(self.hashes(data_in) if input_hashes is None else input_hashes)
        meta_digest = hashlib.sha256(self.meta_text(meta).encode("utf-8", "surrogatepass")).digest()
        return hashlib.sha256(KEY_PREFIX + tree + meta_digest).hexdigest()[:KEY_CHARS]

    def meta_text(self, meta: Any) -> str:
        return canonical_meta(meta)

    def same_meta(self, stored: str, meta: Any) -> bool:
        try:
            return canonical_meta(json.loads(stored)) == self.meta_text(meta)
        except (ValueError, InvalidDataError):
            return False

    def attrs(self) -> dict[str, Any]:
        return {"sciio_key_scheme": self.name, "sciio_key_version": SHA256_VERSION}


class CorelayScheme(KeyScheme):
    name = "corelay"

    def __init__(self, protocol: int = CORELAY_PROTOCOL) -> None:
        if protocol not in CORELAY_PROTOCOLS:
            raise InvalidDataError(f"pickle protocol {protocol!r} is not one corelay 1.0.0 ran with",
                                   hint="4 (Python 3.11-3.13, the default) or 5 (Python 3.14).")
        self.protocol = protocol

    def leaf_hash(self, value: Any) -> str:
        return corelay_hash(value, self.protocol)

    def key(self, data_in: Any, meta: Any, input_hashes: Any = None) -> str:
        return corelay_hash((data_in, meta), self.protocol)

    def meta_text(self, meta: Any) -> str:
        try:
            return json.dumps(meta)  # exactly what corelay's HashedHDF5.write stores
        except (TypeError, ValueError) as exc:
            raise InvalidDataError(f"the meta is not JSON data: {exc}",
                                   hint="corelay stores the meta as JSON; give JSON values.") from None

    def same_meta(self, stored: str, meta: Any) -> bool:
        try:
            return json.loads(stored) == json.loads(self.meta_text(meta))
        except (ValueError, InvalidDataError):
            return False

    def attrs(self) -> dict[str, Any]:
        return {"sciio_key_scheme": self.name, "sciio_pickle_protocol": self.protocol}


def make_scheme(name: str, protocol: int | None = None) -> KeyScheme:
    if name == "sha256":
        if protocol is not None:
            raise InvalidDataError("pickle_protocol applies to the corelay scheme only",
                                   hint="The sha256 scheme uses no pickle; leave pickle_protocol unset.")
        return Sha256Scheme()
    if name == "corelay":
        return CorelayScheme(CORELAY_PROTOCOL if protocol is None else protocol)
    raise InvalidDataError(f"unknown key scheme {name!r}", hint=f"One of {list(SCHEMES)}.")


def corelay_meta(meta: Any) -> Any:
    """Meta given as JSON, as corelay's processors pass it: a top-level object becomes an ``OrderedDict``
    in the JSON's order (nested objects stay dicts, as processor parameters are)."""
    from collections import OrderedDict

    return OrderedDict(meta) if isinstance(meta, dict) else meta
