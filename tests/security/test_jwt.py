"""Bearer JWTs for the HTTP transport: one without ``exp`` (a token valid forever) is refused.

Transport-independent: the server's own verifier (``server.auth.build_auth``) with an HS256
secret, fed tokens minted with joserfc. The HTTP round trips live in tests/server/test_http.py.
"""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.jwk import OctKey
from pydantic import SecretStr

from server.auth import build_auth
from server.settings import Settings

SECRET = "s" * 40
AUDIENCE = "sciio"


def mint(**claims) -> str:
    return jwt.encode({"alg": "HS256"}, {"sub": "alice", "aud": AUDIENCE, **claims}, OctKey.import_key(SECRET))


def verifier():
    return build_auth(Settings(roots=["."], jwt_secret=SecretStr(SECRET), jwt_audience=AUDIENCE))


async def test_jwt_without_exp_is_refused():
    now = int(time.time())
    assert await verifier().verify_token(mint(iat=now)) is None
    assert await verifier().verify_token(mint(iat=now, exp=now + 300)) is not None  # the same token, with exp


async def test_jwt_not_yet_valid_or_expired_is_refused():
    now = int(time.time())
    assert await verifier().verify_token(mint(iat=now, nbf=now + 3600, exp=now + 7200)) is None
    assert await verifier().verify_token(mint(iat=now - 7200, exp=now - 3600)) is None
