"""The sandbox: every user-supplied path is resolved here and confined to the roots.

A path is accepted only when its fully resolved form (every symlink followed, for the
file and each parent) lies inside one of the resolved roots. Containment is checked by
path components, so ``/data-evil`` is not inside ``/data``. Names are never globbed.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from io_core.errors import FileNotFoundIOError, NotAFileError, PathOutsideRootError


class Sandbox:
    """Resolves paths against an ordered list of roots; ``roots=None`` confines nothing."""

    def __init__(self, roots: Iterable[str | os.PathLike[str]] | None = None) -> None:
        if roots is None:
            self._roots: tuple[Path, ...] | None = None
        else:
            resolved = tuple(Path(os.path.realpath(os.fspath(r))) for r in roots)
            if not resolved:
                raise ValueError("a Sandbox needs at least one root (or roots=None)")
            self._roots = resolved

    @property
    def roots(self) -> Sequence[Path] | None:
        return self._roots

    @property
    def confined(self) -> bool:
        return self._roots is not None

    def _base(self) -> Path:
        return self._roots[0] if self._roots else Path.cwd()

    def resolve(self, user_path: str | os.PathLike[str]) -> Path:
        """The real, absolute path for ``user_path``, or ``PATH_OUTSIDE_ROOT``.

        A path that does not exist yet is checked through its resolved parent.
        """
        raw = os.fspath(user_path)
        if not isinstance(raw, str):
            raise PathOutsideRootError("paths must be text, not bytes", path=repr(raw))
        if "\x00" in raw:
            raise PathOutsideRootError("path contains a null byte", path=repr(raw))
        if raw.strip() == "":
            raise FileNotFoundIOError("empty path", hint="Name a file inside the roots.")
        if raw.startswith("~"):
            raise PathOutsideRootError(
                f"home-directory paths are not expanded: {raw!r}",
                hint="Use a path relative to the first root, or an absolute path inside a root.",
                path=raw,
            )
        candidate = Path(raw)
        if not candidate.is_absolute():
            candidate = self._base() / candidate
        # realpath follows every symlink of the existing prefix and keeps the rest lexically.
        real = Path(os.path.realpath(candidate))
        if self._roots is not None and not any(real == r or real.is_relative_to(r) for r in self._roots):
            raise PathOutsideRootError(f"{raw!r} resolves outside the allowed roots", path=raw)
        return real

    def existing_file(self, user_path: str | os.PathLike[str], real: Path | None = None) -> Path:
        """Resolve (unless ``real`` is its resolved form already) and require an existing regular file."""
        real = self.resolve(user_path) if real is None else real
        if not real.exists():
            raise FileNotFoundIOError(f"no such file: {os.fspath(user_path)!r}", path=str(user_path))
        if real.is_dir():
            raise NotAFileError(f"{os.fspath(user_path)!r} is a folder", path=str(user_path))
        return real

    def display(self, real: Path) -> str:
        """The path as a client should see it: relative to its root when confined."""
        if self._roots is None:
            return str(real)
        for root in self._roots:
            if real == root or real.is_relative_to(root):
                rel = real.relative_to(root)
                return str(rel) if root == self._roots[0] else str(real)
        return str(real)
