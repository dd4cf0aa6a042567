"""The result store's refusals: each a coded ``IOCoreError`` with a hint (issue 15, point 4).

Nothing is silently overwritten and nothing is silently served: a missing entry, a damaged
one, a key scheme that is not the store's, an entry whose stored input hashes are not the
caller's (a key collision, or corelay's rounding), an entry written twice and a store another
writer holds each have their own code.
"""

from __future__ import annotations

from io_core.errors import CorruptFileError, ExistsError, InvalidDataError, IOCoreError, KeyNotFoundError


class ResultNotFoundError(KeyNotFoundError):
    code = "RESULT_NOT_FOUND"
    default_hint = "Nothing was stored for this input and meta: compute it, then write it (exists() asks first)."


class CorruptEntryError(CorruptFileError):
    code = "CORRUPT_ENTRY"
    default_hint = ("The entry lacks data/meta/input/output or holds unreadable JSON; nothing was served. "
                    "Rewrite it with overwrite=True once the result is recomputed.")


class SchemeMismatchError(IOCoreError):
    code = "SCHEME_MISMATCH"
    default_hint = "Open the store with the scheme its attributes record (or leave scheme unset to use it)."


class HashCollisionError(IOCoreError):
    code = "HASH_COLLISION"
    default_hint = ("The stored entry was made from another input or meta under the same key; it was not served. "
                    "Use the sha256 scheme (exact, no rounding) for a new store, or write with overwrite=True.")


class EntryExistsError(ExistsError):
    code = "ENTRY_EXISTS"
    default_hint = "Read the stored result instead (exists()/read()); pass overwrite=True to replace it."


class StoreBusyError(IOCoreError):
    code = "STORE_BUSY"
    default_hint = ("Another writer (or a program holding the file open with HDF5 file locking) has the store; "
                    "retry later, or raise lock_timeout.")


class NotAStoreError(InvalidDataError):
    code = "NOT_A_STORE"
    default_hint = ("A result store group holds one subgroup per 32-hex key with data, meta, input and output; "
                    "pass key= naming such a group (explore_h5 shows the file's groups).")
