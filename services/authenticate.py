"""Turn a bearer token into the Principal behind it (the users table, not the token, holds the role)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from domain.errors import Unauthenticated
from domain.roles import MAX_USER_ID_LENGTH, Principal
from domain.storable import unstorable
from persistence.users import load_principal
from services.deps import Deps


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` value, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def authenticate(deps: Deps, *, authorization: str | None) -> Principal:
    """The caller behind an Authorization header; raises Unauthenticated with the reason."""
    principal, _ = await authenticate_until(deps, authorization=authorization)
    return principal


async def authenticate_until(
    deps: Deps,
    *,
    authorization: str | None,
    principals: Callable[[str], Awaitable[Principal | None]] | None = None,
) -> tuple[Principal, datetime]:
    """The caller and when its token expires (websockets close then); raises Unauthenticated.
    `principals` looks the user up (a socket's cached, batched look-up); else the database is read."""
    token = bearer_token(authorization)
    if token is None:
        raise Unauthenticated("missing bearer token (Authorization: Bearer <JWT>)")
    if deps.tokens is None:
        raise Unauthenticated("this server accepts no bearer tokens (no JWT secret or JWKS URL configured)")
    claims = await deps.tokens.verify(token)
    subject = str(claims["sub"])
    try:
        # A signed but absurd `exp` (1e20, 1e300) is past any date Python or PostgreSQL can hold.
        expires_at = datetime.fromtimestamp(int(claims["exp"]), UTC)
    except (OverflowError, ValueError, OSError) as error:
        raise Unauthenticated("the token's exp is not a time") from error
    if len(subject) > MAX_USER_ID_LENGTH or unstorable(subject, max_depth=1):
        # No user has such an id, and a NUL would fail in SQL rather than match nothing.
        raise Unauthenticated("the token's subject is not an active CallTrax user")
    if principals is not None:
        principal = await principals(subject)
    else:
        async with deps.reader() as connection:
            principal = await load_principal(connection, subject)
    if principal is None:
        raise Unauthenticated("the token's subject is not an active CallTrax user")
    return principal, expires_at
