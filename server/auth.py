"""Who is calling, and may they write: bearer tokens for the HTTP transport.

Two sources of tokens, usable together:

* **Static tokens** from ``--token-file FILE`` and/or the ``SCIIO_TOKENS`` variable. One
  token per line (in the variable: per line or comma), ``#`` starts a comment::

      <token>[:ro] [name]

  ``:ro`` makes the token read-only; ``name`` labels it in logs and rate limits (default:
  ``tok-`` + the first 10 hex digits of the token's SHA-256). Tokens must be at least 16
  characters and contain no whitespace or ``:``. Only SHA-256 digests are kept in memory
  for lookup.
* **JWT** through FastMCP's ``JWTVerifier``: an HS256 shared secret (``--jwt-secret-file``
  or ``SCIIO_JWT_SECRET``) or an RS256 public key (``--jwt-public-key-file``), with
  ``--jwt-audience`` (required) and ``--jwt-issuer``. A JWT may write only when its
  ``scope`` (or ``scp``) claim holds ``sciio:write``; otherwise it is read-only. Its
  time claims are checked here, whatever the library does: ``exp`` must be present (a
  token that never expires is refused unless ``--allow-jwt-without-exp``) and in the
  future, ``nbf`` and ``iat`` must not be in the future (``CLOCK_SKEW`` seconds of
  tolerance), and each must be a number.

Failed bearer attempts are rate-limited per remote address by ``server.web.AuthFailureLimit``.

Every verified token carries scopes: ``sciio:read`` always, ``sciio:write`` when it may
write. Its ``client_id`` is the identity used in logs and for rate limiting:
``token:<name>`` or ``jwt:<sub>`` — never the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastmcp.server.auth import AccessToken, TokenVerifier

if TYPE_CHECKING:
    from server.settings import Settings

log = logging.getLogger("sciio_mcp.auth")
READ_SCOPE = "sciio:read"
WRITE_SCOPE = "sciio:write"
MIN_TOKEN_CHARS = 16
MIN_SECRET_BYTES = 32
#: Seconds an issuer's clock may run ahead (``nbf``, ``iat``) or behind (``exp``) of ours.
CLOCK_SKEW = 30
_NAME_OK = re.compile(r"[^A-Za-z0-9._@+-]")


class AuthConfigError(ValueError):
    """The auth configuration cannot be used; the message says what to fix."""


@dataclass(frozen=True)
class StaticToken:
    name: str
    read_only: bool


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _label(value: object, limit: int = 64) -> str:
    return _NAME_OK.sub("_", str(value))[:limit] or "unknown"


def parse_token_lines(text: str, source: str) -> dict[bytes, StaticToken]:
    """``<token>[:ro] [name]`` per line (commas also separate entries) → digest → token info."""
    found: dict[bytes, StaticToken] = {}
    entries = [e for line in text.splitlines() for e in line.split("#", 1)[0].split(",")]
    for n, entry in enumerate((e.strip() for e in entries), 1):
        if not entry:
            continue
        fields = entry.split()
        if len(fields) > 2:
            raise AuthConfigError(f"{source}: entry {n} has {len(fields)} fields; expected '<token>[:ro] [name]'")
        token, read_only = fields[0], False
        if token.endswith(":ro"):
            token, read_only = token[:-3], True
        elif token.endswith(":rw"):
            token = token[:-3]
        if ":" in token:
            raise AuthConfigError(f"{source}: entry {n}: a token may not contain ':' (only the ':ro' suffix)")
        if len(token) < MIN_TOKEN_CHARS:
            raise AuthConfigError(
                f"{source}: entry {n}: token shorter than {MIN_TOKEN_CHARS} characters; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        digest = _digest(token)
        name = _label(fields[1]) if len(fields) == 2 else "tok-" + digest.hex()[:10]
        if digest in found:
            raise AuthConfigError(f"{source}: entry {n} repeats a token already listed")
        found[digest] = StaticToken(name=name, read_only=read_only)
    return found


def _read_secret_file(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise AuthConfigError(f"cannot read the {what} {str(path)!r}: {exc.strerror or exc}") from None


def _number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def jwt_time_problem(claims: dict, *, require_exp: bool = True, now: float | None = None) -> str | None:
    """Why a JWT's time claims make it unusable now, or None when they are fine."""
    now = time.time() if now is None else now
    exp = claims.get("exp")
    if exp is None:
        if require_exp:
            return "no 'exp' claim (a token that never expires)"
    elif not _number(exp):
        return "'exp' is not a number"
    elif exp <= now - CLOCK_SKEW:
        return "expired"
    for name in ("nbf", "iat"):
        value = claims.get(name)
        if value is None:
            continue
        if not _number(value):
            return f"{name!r} is not a number"
        if value > now + CLOCK_SKEW:
            return "not valid yet ('nbf' in the future)" if name == "nbf" else "issued in the future ('iat')"
    return None


class SciioTokenVerifier(TokenVerifier):
    """Static tokens first (constant-time digest match), then the JWT verifier if any."""

    def __init__(self, static: dict[bytes, StaticToken], jwt: TokenVerifier | None = None, *,
                 require_exp: bool = True) -> None:
        super().__init__()
        self._static = static
        self._jwt = jwt
        self._require_exp = require_exp

    async def verify_token(self, token: str) -> AccessToken | None:
        digest = _digest(token)
        match = None
        for known, info in self._static.items():  # compare every digest: no early exit to time
            if hmac.compare_digest(known, digest):
                match = info
        if match is not None:
            scopes = [READ_SCOPE] if match.read_only else [READ_SCOPE, WRITE_SCOPE]
            return AccessToken(token=token, client_id=f"token:{match.name}", scopes=scopes)
        if self._jwt is None:
            return None
        verified = await self._jwt.verify_token(token)
        if verified is None:
            return None
        problem = jwt_time_problem(verified.claims or {}, require_exp=self._require_exp)
        if problem is not None:
            log.info("bearer JWT refused: %s", problem)
            return None
        who = verified.claims.get("sub") or verified.client_id
        scopes = [READ_SCOPE] + ([WRITE_SCOPE] if WRITE_SCOPE in (verified.scopes or []) else [])
        return verified.model_copy(update={"client_id": f"jwt:{_label(who)}", "scopes": scopes})


def static_tokens(settings: Settings) -> dict[bytes, StaticToken]:
    tokens: dict[bytes, StaticToken] = {}
    if settings.token_file is not None:
        tokens.update(parse_token_lines(_read_secret_file(settings.token_file, "token file"), str(settings.token_file)))
    if settings.tokens is not None:
        for digest, info in parse_token_lines(settings.tokens.get_secret_value(), "SCIIO_TOKENS").items():
            tokens.setdefault(digest, info)
    return tokens


def jwt_verifier(settings: Settings) -> TokenVerifier | None:
    secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret is not None else None
    if settings.jwt_secret_file is not None:
        secret = _read_secret_file(settings.jwt_secret_file, "JWT secret file")
    public_key = None
    if settings.jwt_public_key_file is not None:
        public_key = _read_secret_file(settings.jwt_public_key_file, "JWT public key file")
    if secret is None and public_key is None:
        if settings.jwt_audience or settings.jwt_issuer:
            raise AuthConfigError("--jwt-audience/--jwt-issuer given without --jwt-secret-file or --jwt-public-key-file")
        return None
    if secret is not None and public_key is not None:
        raise AuthConfigError("give either a JWT secret (HS256) or a JWT public key (RS256), not both")
    if not settings.jwt_audience:
        raise AuthConfigError("JWT auth needs --jwt-audience (SCIIO_JWT_AUDIENCE): the 'aud' this server accepts")
    if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
        raise AuthConfigError(f"the JWT secret is shorter than {MIN_SECRET_BYTES} bytes")
    algorithm = settings.jwt_algorithm or ("HS256" if secret is not None else "RS256")
    from fastmcp.server.auth.providers.jwt import JWTVerifier

    audience = [a.strip() for a in settings.jwt_audience.split(",") if a.strip()]
    try:
        return JWTVerifier(
            public_key=secret if secret is not None else public_key,
            algorithm=algorithm,
            issuer=settings.jwt_issuer or None,
            audience=audience[0] if len(audience) == 1 else audience,
        )
    except ValueError as exc:
        raise AuthConfigError(f"JWT settings: {exc}") from None


def build_auth(settings: Settings) -> SciioTokenVerifier | None:
    """The verifier for the configured tokens, or None when no auth is configured."""
    static = static_tokens(settings)
    jwt = jwt_verifier(settings)
    if settings.token_file is not None and not static and jwt is None:
        raise AuthConfigError(f"the token file {str(settings.token_file)!r} lists no tokens")
    if not static and jwt is None:
        return None
    return SciioTokenVerifier(static, jwt, require_exp=not settings.allow_jwt_without_exp)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- the caller of the current request ---------------------------------------------------

@dataclass(frozen=True)
class Identity:
    key: str  # log label and rate-limit bucket: token:<name>, jwt:<sub>, anon:<address>, local
    can_write: bool
    local: bool = False


LOCAL = Identity(key="local", can_write=True, local=True)


def current_identity() -> Identity:
    """The caller of the request being handled: a token's identity, a remote address, or local."""
    from fastmcp.server.dependencies import get_access_token, get_http_request

    token = get_access_token()
    if token is not None:
        return Identity(key=token.client_id, can_write=WRITE_SCOPE in (token.scopes or []))
    try:
        request = get_http_request()
    except RuntimeError:
        return LOCAL  # stdio or in-memory: the one local client
    host = request.client.host if request.client else "unknown"
    return Identity(key=f"anon:{host}", can_write=True)
