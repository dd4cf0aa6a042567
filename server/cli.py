"""``sciio-mcp``: parse flags, configure stderr logging, serve MCP over stdio (or streamable HTTP)."""

import argparse
import logging
import sys
from pathlib import Path

from server import __version__, lifecycle

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}


def _byte_size(text: str) -> int:
    """'536870912', '512MiB', '2 GB' -> bytes."""
    number, unit = text.strip().lower(), ""
    while number and not number[-1].isdigit():
        number, unit = number[:-1], number[-1] + unit
    try:
        return int(float(number) * _UNITS[unit.strip()])
    except (ValueError, KeyError):
        raise argparse.ArgumentTypeError(f"not a byte size: {text!r} (e.g. 536870912, 512MiB, 2GB)") from None


def _root(text: str) -> str | Path:
    """A URL root stays text (s3://, https://); anything else is a folder."""
    from io_core.remote.roots import looks_remote

    return text if looks_remote(text) else Path(text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="sciio-mcp", description="Scientific file I/O as MCP tools (stdio; --http for a lab server).")
    p.add_argument("--root", action="append", type=_root, metavar="DIR",
                   help="allowed folder, s3://bucket/prefix or https://host/prefix (repeatable); the first is the base "
                        "of relative paths [default: .]")
    p.add_argument("--s3-endpoint-url", metavar="URL", help="S3-compatible endpoint (MinIO, SeaweedFS) [default: AWS]")
    p.add_argument("--allow-remote-writes", action="store_true", default=None,
                   help="allow writing to s3:// roots (read-only otherwise)")
    p.add_argument("--remote-timeout", type=float, metavar="SECONDS",
                   help="time limit of one object-store request (retried with back-off) [default: 20]")
    p.add_argument("--read-only", action="store_true", default=None, help="offer no writing tools")
    p.add_argument("--allow-pickle", action="store_true", default=None,
                   help="allow loading pickled objects (runs code from the file: trusted files only)")
    p.add_argument("--max-response-bytes", type=int, metavar="N", help="largest tool result [default: 32768]")
    p.add_argument("--log-level", default=None, help="stderr log level [default: WARNING]")
    p.add_argument("--max-write-bytes", type=_byte_size, metavar="N",
                   help="largest file one save/convert may write: bytes, or 512MiB, 2GB [default: 1GiB]")
    p.add_argument("--cache-bytes", type=_byte_size, metavar="N",
                   help="load-cache bound: bytes, or with a unit (512MiB, 2GB); 0 = off [default: 512MiB]")
    p.add_argument("--hdf5-workers", type=int, metavar="N",
                   help="worker processes for HDF5-family reads (a slow or hung file cannot stall other calls; "
                        "timeouts kill it); 0 = read in-process [default: 2]")
    d = p.add_argument_group("compute engine (exact stats, conversions)")
    d.add_argument("--dask-scheduler", metavar="ADDRESS",
                   help="run on an existing Dask cluster (tcp://host:port) [default: a local cluster when needed]")
    d.add_argument("--dask-workers", type=int, metavar="N", help="local cluster worker processes [default: cores]")
    d.add_argument("--dask-threads", type=int, metavar="N", help="threads per local worker [default: 1]")
    d.add_argument("--dask-memory-limit", type=_byte_size, metavar="N",
                   help="memory per local worker: bytes or 2GiB [default: half the RAM split, at most 4GiB]")
    d.add_argument("--dask-min-bytes", type=_byte_size, metavar="N",
                   help="inputs smaller than this run in-process [default: 256MiB]")
    p.add_argument("--log-format", choices=["text", "json"], default=None,
                   help="stderr log format [default: json with --http, text with stdio]")
    h = p.add_argument_group("HTTP lab server (--http)")
    h.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp (+ GET /health, /ready) instead of stdio")
    h.add_argument("--host", default=None, help="address to bind [default: 127.0.0.1]; non-loopback needs auth")
    h.add_argument("--port", type=int, default=None, help="port [default: 8000]")
    h.add_argument("--token-file", type=Path, metavar="FILE",
                   help="bearer tokens, one per line: '<token>[:ro] [name]' (:ro = read-only); also SCIIO_TOKENS")
    h.add_argument("--jwt-secret-file", type=Path, metavar="FILE", help="HS256 shared secret for JWT bearer tokens")
    h.add_argument("--jwt-public-key-file", type=Path, metavar="FILE", help="PEM public key for RS256 JWT bearer tokens")
    h.add_argument("--jwt-algorithm", default=None, help="JWT algorithm [default: HS256 with a secret, RS256 with a key]")
    h.add_argument("--jwt-issuer", default=None, help="required 'iss' of JWTs")
    h.add_argument("--jwt-audience", default=None, help="required 'aud' of JWTs (needed with JWT auth)")
    h.add_argument("--allow-jwt-without-exp", action="store_true", default=None,
                   help="accept JWTs without an 'exp' claim (refused by default); also SCIIO_ALLOW_JWT_WITHOUT_EXP")
    h.add_argument("--auth-fail-limit", type=int, metavar="N",
                   help="failed bearer attempts one address may make per window before HTTP 429, 0 = off [default: 20]")
    h.add_argument("--auth-fail-window", type=float, metavar="SECONDS",
                   help="window of --auth-fail-limit [default: 60]")
    h.add_argument("--insecure-no-auth", action="store_true", default=None,
                   help="allow a non-loopback address without auth (trusted networks only)")
    h.add_argument("--call-timeout", type=float, metavar="SECONDS", help="time limit of one tool call [default: 120]")
    h.add_argument("--max-request-bytes", type=int, metavar="N", help="largest HTTP request body [default: 8 MiB]")
    h.add_argument("--rate-limit", type=float, metavar="PER_SECOND",
                   help="tool calls per second per client identity, 0 = off [default: 20]")
    h.add_argument("--rate-burst", type=int, metavar="N", help="calls a client may burst [default: 2 x rate]")
    p.add_argument("--version", action="version", version=f"sciio-mcp {__version__}")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    lifecycle.install_handlers()  # SIGINT/SIGTERM stop the process quietly, from here on
    args = parse_args(argv)
    from server.settings import Settings

    overrides = {
        "roots": args.root,
        "s3_endpoint_url": args.s3_endpoint_url,
        "allow_remote_writes": args.allow_remote_writes,
        "remote_timeout": args.remote_timeout,
        "read_only": args.read_only,
        "allow_pickle": args.allow_pickle,
        "max_response_bytes": args.max_response_bytes,
        "log_level": args.log_level,
        "cache_bytes": args.cache_bytes,
        "max_write_bytes": args.max_write_bytes,
        "hdf5_workers": args.hdf5_workers,
        "dask_scheduler": args.dask_scheduler,
        "dask_workers": args.dask_workers,
        "dask_threads": args.dask_threads,
        "dask_memory_limit": args.dask_memory_limit,
        "dask_min_bytes": args.dask_min_bytes,
        "log_format": args.log_format,
        "http_host": args.host,
        "http_port": args.port,
        "token_file": args.token_file,
        "jwt_secret_file": args.jwt_secret_file,
        "jwt_public_key_file": args.jwt_public_key_file,
        "jwt_algorithm": args.jwt_algorithm,
        "jwt_issuer": args.jwt_issuer,
        "jwt_audience": args.jwt_audience,
        "allow_jwt_without_exp": args.allow_jwt_without_exp,
        "auth_fail_limit": args.auth_fail_limit,
        "auth_fail_window": args.auth_fail_window,
        "insecure_no_auth": args.insecure_no_auth,
        "call_timeout": args.call_timeout,
        "max_request_bytes": args.max_request_bytes,
        "rate_limit": args.rate_limit,
        "rate_burst": args.rate_burst,
    }
    from pydantic import ValidationError

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        sys.stderr.write(f"sciio-mcp: invalid settings: {problems}\n")
        raise SystemExit(2) from None
    from io_core.limits import set_current

    set_current(settings.limits())  # resource limits every call is checked against (io_core.limits)
    missing = [str(r) for r in settings.local_roots() if not r.is_dir()]
    if missing:
        sys.stderr.write(f"sciio-mcp: root folder(s) do not exist: {', '.join(missing)}\n")
        raise SystemExit(2)
    from server.auth import AuthConfigError, build_auth, is_loopback

    try:
        has_auth = build_auth(settings) is not None
    except AuthConfigError as exc:
        sys.stderr.write(f"sciio-mcp: {exc}\n")
        raise SystemExit(2) from None
    if args.http and not has_auth and not is_loopback(settings.http_host) and not settings.insecure_no_auth:
        sys.stderr.write(
            f"sciio-mcp: refusing to serve {settings.http_host}:{settings.http_port} without authentication: "
            "anyone who can reach it could read (and write) your data.\n"
            "Configure bearer tokens (--token-file FILE or SCIIO_TOKENS) or JWT (--jwt-secret-file/--jwt-public-key-file "
            "with --jwt-audience), bind 127.0.0.1, or pass --insecure-no-auth on a trusted network.\n"
        )
        raise SystemExit(2)
    from server import logs

    logs.configure(settings.log_level, settings.log_format or ("json" if args.http else "text"), access=args.http)
    from server import warmup

    if args.http:
        from server.app import create_app
        from server.web import serve

        logging.getLogger("sciio_mcp.lifecycle").info(
            "serving MCP over HTTP at http://%s:%d/mcp (auth: %s, read-only: %s)", settings.http_host,
            settings.http_port, "bearer" if has_auth else "none", settings.read_only)
        app = create_app(settings)
        warmup.start(settings.local_roots())  # imports the roots' libraries once the server is idle
        lifecycle.serve_until_stopped(lambda: serve(app, settings))
        return
    if sys.stdin.isatty():
        sys.stderr.write(
            "sciio-mcp serves MCP over stdio and waits for a client on stdin.\n"
            "Connect from an MCP client configured with: "
            f'{{"command": "sciio-mcp", "args": ["--root", "{settings.roots[0]}"]}}\n'
            "Press Ctrl-C to stop.\n"
        )
    from server.app import create_app

    app = create_app(settings)
    warmup.start(settings.local_roots())  # imports the roots' libraries once the server is idle
    from server import stdio_guard

    stdio_guard.install()  # a request too deep for the SDK's JSON reader still gets a coded answer
    lifecycle.serve_until_stopped(lambda: app.run(transport="stdio", show_banner=False))


if __name__ == "__main__":
    main()
