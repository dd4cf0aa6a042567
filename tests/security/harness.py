"""A real MCP client over stdio, driven from plain (sync) tests, and the checks every case shares.

``StdioServer`` starts the installed ``sciio-mcp`` script as a child process and keeps one
FastMCP client session open in a background event loop, so tests (and their racing threads)
call tools synchronously and several calls can be in flight at once. It knows the child's
pid, which the memory checks read from ``/proc``.

The leak checks look for the outside marker in every form a response or a written file
could carry it: as text, base64, hex, or the decimal bytes / int16 values of a preview.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import stat
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
from fastmcp import Client
from fastmcp.client.transports import StdioTransport

from tests.server.conftest import child_env, installed_command

CODE = re.compile(r"^([A-Z][A-Z0-9_]+):")
#: Memory guard for the child (not what the tests check: they check RSS growth). It keeps an
#: unfixed blow-up from taking the shared machine down: allocations past it fail instead.
CHILD_DATA_LIMIT = 6 * 2**30
CHILD_FILE_LIMIT = 3 * 2**30


@dataclass
class Response:
    code: str  # "OK", a server code (text before ":"), or CLIENT_TIMEOUT / PROTOCOL_ERROR / SERVER_DIED
    text: str  # every text block, joined
    structured: Any
    elapsed: float
    images: int = 0

    def dump(self) -> str:
        """Everything the client received, as one string for the leak checks."""
        parts = [self.text]
        if self.structured is not None:
            parts.append(json.dumps(self.structured, ensure_ascii=False))
            parts.append(json.dumps(self.structured, ensure_ascii=True))
        return "\n".join(parts)

    def short(self, n: int = 200) -> str:
        return f"{self.code} ({self.elapsed:.2f} s): {self.text[:n]!r}"


class StdioServer:
    """``sciio-mcp --root ...`` over stdio with one client session, callable from any thread."""

    def __init__(self, roots: list[Path], *extra: str, call_timeout: float = 10.0, log: Path | None = None) -> None:
        self.roots = [Path(r) for r in roots]
        self.log = log  # the child's stderr (its log), appended across restarts
        self.extra = list(extra)
        self.call_timeout = call_timeout
        self.pid: int | None = None
        self.starts = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._stop: asyncio.Event | None = None
        self._done: Any = None

    # -- life cycle ----------------------------------------------------------------------
    def argv(self) -> list[str]:
        # SCIIO_SECURITY_COMMAND runs the corpus against another build, e.g. "python -m server" with
        # PYTHONPATH set to an older checkout (to see that the corpus catches what it should)
        override = os.environ.get("SCIIO_SECURITY_COMMAND")
        cmd = override.split() if override else installed_command()
        args = [*cmd[1:]]
        for r in self.roots:
            args += ["--root", str(r)]
        args += ["--call-timeout", str(self.call_timeout), *self.extra]
        if shutil.which("prlimit") is None:  # util-linux missing: run unguarded (the checks stay the same)
            return [cmd[0], *args]
        limits = [f"--data={CHILD_DATA_LIMIT}", f"--fsize={CHILD_FILE_LIMIT}"]
        return ["prlimit", *limits, "--", cmd[0], *args]

    def start(self) -> StdioServer:
        argv = self.argv()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="stdio-client", daemon=True)
        self._thread.start()
        ready: asyncio.Future = asyncio.run_coroutine_threadsafe(self._make_ready(), self._loop).result(10)
        self._done = asyncio.run_coroutine_threadsafe(self._session(argv, ready), self._loop)
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(asyncio.shield(ready), 90), self._loop).result(95)
        self.pid = self._find_pid()
        self.starts += 1
        return self

    async def _make_ready(self) -> asyncio.Future:
        self._stop = asyncio.Event()
        return asyncio.get_running_loop().create_future()

    async def _session(self, argv: list[str], ready: asyncio.Future) -> None:
        transport = StdioTransport(command=argv[0], args=argv[1:], env=child_env(), log_file=self.log)
        try:
            async with Client(transport, timeout=None, init_timeout=90) as client:
                self._client = client
                ready.set_result(True)
                await self._stop.wait()
        except Exception as exc:  # noqa: BLE001 - any start failure is surfaced through ready
            if not ready.done():
                ready.set_exception(exc)
        finally:
            self._client = None

    def _find_pid(self) -> int:
        needle = f"--root\0{self.roots[0]}\0".encode()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                try:
                    cmdline = Path(entry.path, "cmdline").read_bytes()
                    ppid = _status_field(int(entry.name), "PPid")
                except (OSError, ValueError):
                    continue
                if needle in cmdline + b"\0" and ppid == os.getpid():
                    return int(entry.name)
            time.sleep(0.05)
        raise RuntimeError(f"cannot find the server process for {self.roots[0]}")

    def log_tail(self, chars: int = 1500) -> str:
        """The end of the server's log (where an INTERNAL_ERROR's traceback is)."""
        if self.log is None or not self.log.exists():
            return ""
        with open(self.log, "rb") as fh:
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - chars))
            return fh.read().decode("utf-8", "replace")

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            state = _status_text(self.pid)
        except OSError:
            return False
        return "State:\tZ" not in state

    def stop(self) -> None:
        if self._loop is None:
            return
        if self.alive():  # a hung server would keep the transport waiting: end the process we started
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        with contextlib.suppress(Exception):  # the session of a killed server ends with an error
            self._done.result(15)
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop = self._thread = self._client = None
        self.pid = None

    def restart(self) -> None:
        self.stop()
        self.start()

    # -- calls ---------------------------------------------------------------------------
    def submit(self, tool: str, args: dict[str, Any], timeout: float | None = None):
        """Start a call; returns a concurrent future of its ``Response``."""
        limit = timeout if timeout is not None else self.call_timeout + 5
        return asyncio.run_coroutine_threadsafe(self._call(tool, args, limit), self._loop)

    def call(self, tool: str, args: dict[str, Any] | None = None, timeout: float | None = None) -> Response:
        return self.submit(tool, args or {}, timeout).result()

    def list_tools(self) -> list[str]:
        async def names() -> list[str]:
            return [t.name for t in await self._client.list_tools()]

        return asyncio.run_coroutine_threadsafe(names(), self._loop).result(30)

    async def _call(self, tool: str, args: dict[str, Any], limit: float) -> Response:
        t0 = time.perf_counter()
        client = self._client
        if client is None:
            return Response("SERVER_DIED", "no client session", None, 0.0)
        if tool == RESOURCE:
            return await self._read_resource(client, args["uri"], limit, t0)
        try:
            res = await asyncio.wait_for(client.call_tool(tool, args, raise_on_error=False), limit)
        except TimeoutError:
            return Response("CLIENT_TIMEOUT", f"no answer in {limit} s", None, time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - every client-side failure is an answer to check
            code = "PROTOCOL_ERROR" if self.alive() else "SERVER_DIED"
            return Response(code, f"{type(exc).__name__}: {exc}", None, time.perf_counter() - t0)
        elapsed = time.perf_counter() - t0
        texts = [getattr(b, "text", "") for b in res.content if getattr(b, "type", "") == "text"]
        images = sum(1 for b in res.content if getattr(b, "type", "") == "image")
        text = "\n".join(texts)
        if res.is_error:
            m = CODE.match(text)
            code = m.group(1) if m else "UNCODED_ERROR"
        else:
            code = "OK"
        return Response(code, text, res.structured_content, elapsed, images)


    async def _read_resource(self, client: Client, uri: str, limit: float, t0: float) -> Response:
        """A resource read answered like a tool call: OK with its text, or the code its error text starts with."""
        try:
            contents = await asyncio.wait_for(client.read_resource(uri), limit)
        except TimeoutError:
            return Response("CLIENT_TIMEOUT", f"no answer in {limit} s", None, time.perf_counter() - t0)
        except Exception as exc:  # noqa: BLE001 - the error is the answer
            text = str(exc)
            m = CODE.match(text)
            code = m.group(1) if m else "RESOURCE_NOT_FOUND" if text.startswith("Resource not found") else "UNCODED_ERROR"
            if not self.alive():
                code = "SERVER_DIED"
            return Response(code, text, None, time.perf_counter() - t0)
        text = "\n".join(getattr(c, "text", "") or "" for c in contents)
        return Response("OK", text, None, time.perf_counter() - t0)


RESOURCE = "@resource"  # pseudo tool name: read the resource at args["uri"]


# -- /proc --------------------------------------------------------------------------------------

def _status_text(pid: int) -> str:
    return Path(f"/proc/{pid}/status").read_text()


def _status_field(pid: int, name: str) -> int:
    for line in _status_text(pid).splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise ValueError(name)


def process_tree(pid: int) -> list[int]:
    """``pid`` and every descendant (HDF5 worker processes count against the server)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                children.setdefault(_status_field(int(entry.name), "PPid"), []).append(int(entry.name))
            except (OSError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_kib(pids: Iterable[int], field_name: str = "VmRSS") -> int:
    total = 0
    for p in pids:
        try:
            total += _status_field(p, field_name)
        except (OSError, ValueError):
            pass
    return total


class MemoryWatch:
    """Peak RSS growth of a process tree during a block: peak-RSS counters reset before,
    a 20 ms sampler during, VmHWM after (catches spikes the sampler misses)."""

    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        self.baseline = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        if self.pid is None:
            return self
        pids = process_tree(self.pid)
        for p in pids:
            try:
                Path(f"/proc/{p}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            except OSError:
                pass
        self.baseline = rss_kib(pids)
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, rss_kib(process_tree(self.pid)))

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib(process_tree(self.pid), "VmHWM"))

    @property
    def growth_mib(self) -> float:
        return max(0, self.peak - self.baseline) / 1024


# -- what leaked ---------------------------------------------------------------------------------

@dataclass
class Marker:
    """The string stored only outside the roots, and the shapes it takes inside responses."""

    text: str
    forms: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        raw = self.text.encode()
        self.forms = {"text": self.text, "hex": raw.hex(), "hex-upper": raw.hex().upper()}
        for shift in range(3):  # base64 of the marker at any alignment inside a longer byte string
            enc = base64.b64encode(b"\0" * shift + raw).decode()
            start = 4 if shift else 0  # the first 3-byte group made only of marker bytes
            self.forms[f"base64+{shift}"] = enc[start: start + 16]
        cyclic = raw * 2  # outside files repeat the marker: a preview may start anywhere in it
        for off in range(len(raw)):
            self.forms[f"uint8@{off}"] = ",".join(str(v) for v in cyclic[off: off + 10])
            self.forms[f"int16@{off}"] = ",".join(str(int(v)) for v in np.frombuffer(cyclic[off: off + 12], "<i2"))

    def found_in(self, text: str) -> list[str]:
        """The kinds of form (text, hex, base64, uint8, int16) in which the marker appears in ``text``."""
        compact = re.sub(r"\s+", "", text)
        hits = [name for name, form in self.forms.items() if form and (form in text or form in compact)]
        return sorted({re.split(r"[@+]", name)[0] for name in hits})

    def found_in_bytes(self, data: bytes) -> list[str]:
        hits = []
        if self.text.encode() in data:
            hits.append("bytes")
        return hits + self.found_in(data.decode("utf-8", "ignore"))


SCAN_LIMIT = 64 * 2**20


def scan_tree(root: Path, marker: Marker, skip: Iterable[Path] = ()) -> dict[str, list[str]]:
    """Regular files under ``root`` (symlinks not followed) that hold the marker in any form."""
    skipped = {Path(p) for p in skip}
    found: dict[str, list[str]] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        if Path(folder) in skipped:
            dirs[:] = []
            continue
        for name in files:
            p = Path(folder, name)
            if p in skipped:
                continue
            hits = scan_file(p, marker)
            if hits:
                found[str(p.relative_to(root))] = hits
    return found


def scan_file(p: Path, marker: Marker) -> list[str]:
    """The marker's forms in a regular file (symlinks, FIFOs, devices and mostly-sparse files skipped)."""
    try:
        st = os.lstat(p)
    except OSError:
        return []
    if not stat.S_ISREG(st.st_mode) or st.st_blocks * 512 < st.st_size // 8:
        return []
    with open(p, "rb") as fh:
        return marker.found_in_bytes(fh.read(SCAN_LIMIT))


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry below ``root`` (not following symlinks): kind, size, mtime, link target."""
    out: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            p = Path(folder, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            target = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            size = st.st_size if stat.S_ISREG(st.st_mode) else 0
            out[str(p.relative_to(root))] = (stat.S_IFMT(st.st_mode), size, st.st_mtime_ns, target)
    return out


def diff(before: dict[str, tuple], after: dict[str, tuple]) -> dict[str, list[str]]:
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k]),
    }
