"""JWT bearer tokens: verifying callers (HS256 secret or a JWKS URL) and issuing HS256 tokens."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from typing import Any

import jwt

from domain.errors import Unauthenticated

LEEWAY_SECONDS = 30
ASYMMETRIC_ALGORITHMS = ["RS256", "ES256"]
# A dashboard sends the same token with every request, and one GraphQL request checks it twice (the
# per-user read gate, then authentication): a verified token's claims are kept this long, for this
# many tokens. Verifying (base64, JSON, HMAC) was about 9% of a compiled read's server CPU.
VERIFIED_TOKEN_SECONDS = 60.0
VERIFIED_TOKENS_KEPT = 4096


class JwtVerifier:
    """Implements the `TokenVerifier` port with pyjwt; `exp` and `sub` are required."""

    def __init__(
        self,
        *,
        secret: str | None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> None:
        if not secret and not jwks_url:
            raise ValueError("a JWT secret or a JWKS URL is required")
        self._secret = secret
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300) if jwks_url else None
        self._issuer = issuer
        self._audience = audience
        # token -> (its claims, until when (monotonic) they may be reused); least recently used first.
        self._verified: OrderedDict[str, tuple[dict[str, Any], float]] = OrderedDict()

    async def verify(self, token: str) -> dict[str, Any]:
        kept = self._verified.get(token)
        if kept is not None:
            claims, until = kept
            # The expiry is checked on every use, as jwt.decode checks it (with the same leeway).
            if time.monotonic() < until and claims["exp"] >= time.time() - LEEWAY_SECONDS:
                self._verified.move_to_end(token)
                return dict(claims)
            del self._verified[token]
        claims = await self._verify(token)
        self._verified[token] = (dict(claims), time.monotonic() + VERIFIED_TOKEN_SECONDS)
        if len(self._verified) > VERIFIED_TOKENS_KEPT:
            self._verified.popitem(last=False)
        return claims

    async def _verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"malformed bearer token: {error}") from error
        algorithm = header.get("alg")
        if self._jwks is not None and algorithm in ASYMMETRIC_ALGORITHMS:
            # PyJWKClient fetches with blocking urllib; keys are cached, so this is rare.
            try:
                signing_key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            except jwt.PyJWTError as error:
                raise Unauthenticated(f"no signing key for this token: {error}") from error
            key: Any = signing_key.key
            algorithms = ASYMMETRIC_ALGORITHMS
        elif self._secret and algorithm == "HS256":
            key, algorithms = self._secret, ["HS256"]
        else:
            raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("the bearer token has expired") from error
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"invalid bearer token: {error}") from error
        return claims


def issue_token(secret: str, *, subject: str, email: str, role: str, ttl_seconds: int = 86_400) -> str:
    """An HS256 token for `subject`, valid `ttl_seconds` (the CLI's `token` command)."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "email": email,
        "role": role,
        "iat": now,
        "exp": now + ttl_seconds,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm="HS256")
