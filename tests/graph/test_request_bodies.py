"""`POST /graphql` bodies that are JSON Strawberry cannot use answer 400 in GraphQL's shape, never 500
(found by the fuzz suite, tests/fuzz)."""

from __future__ import annotations

import httpx
import pytest

# An integer over Python's 4,300-digit limit for int(str): json.loads raises a ValueError that is no
# JSONDecodeError.
HUGE_INT = b"9" * 5_000


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ me { id } }", "variables": {"a": ' + HUGE_INT + b"}}",
        b"null",
        b"5",
        b'"{ me { id } }"',
        b"true",
    ],
    ids=["integer-over-4300-digits", "null", "number", "string", "boolean"],
)
async def test_json_that_is_no_graphql_request_answers_400(live_server: str, body: bytes) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        answer = await http.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_huge_integer_in_get_variables_answers_400(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
        answer = await http.get("/graphql", params={"query": "{ me { id } }", "variables": HUGE_INT.decode()})
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
