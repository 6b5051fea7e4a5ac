"""Query limits still hold with parsed and validated documents cached: depth 10, aliases 30, tokens 2000."""

from __future__ import annotations

import httpx

from tests.conftest import error_codes, graphql


async def test_depth_aliases_and_tokens_are_refused_every_time(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    deep = "{ leads { edges { node { calls { lead { calls { lead { calls { lead { calls { lead { id } } } } } } } } } } } }"
    shallow = "{ leads { edges { node { calls { lead { calls { lead { id } } } } } } } }"
    aliases = "{ " + " ".join(f"a{i}: me {{ id }}" for i in range(31)) + " }"
    tokens = "{ me { " + " ".join(["id"] * 2100) + " } }"
    for _ in range(2):
        # The second round is served from the parser and validation caches.
        body = await graphql(client, deep, user=admin)
        assert error_codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
        assert "exceeds maximum operation depth of 10" in body["errors"][0]["message"]
        assert "errors" not in await graphql(client, shallow, user=admin)
        assert error_codes(await graphql(client, aliases, user=admin)) == ["GRAPHQL_VALIDATION_FAILED"]
        body = await graphql(client, tokens, user=admin)
        assert body["errors"], body
