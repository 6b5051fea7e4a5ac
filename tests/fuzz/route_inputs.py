"""Inputs for the other routes: dashboard, health, metrics, CSV exports; odd paths and Authorization headers."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st

from tests.conftest import TEST_JWT_SECRET
from tests.fuzz.strategies import (
    compact_jwt,
    dumps,
    encode_text,
    iso_datetimes,
    json_values,
    numbers,
    short_text,
)
from tests.fuzz.support import Probe, unsendable
from tests.fuzz.world import World

EXPORT_PARAMS = [
    "tenantId",
    "status",
    "stage",
    "source",
    "createdFrom",
    "createdTo",
    "search",
    "direction",
    "disposition",
    "startedFrom",
    "startedTo",
    "leadId",
    "x",
]
PATH_ODDITIES = [
    "%00",
    "%ZZ",
    "%",
    "%C0%AF",
    "%ED%A0%80",
    "..%2F..%2F",
    "%2F",
    "%FF%FE",
    "\u202e",
    "a" * 5_000,
    "%25",
    ";",
    "?",
    "#",
]


def _token(claims: dict[str, Any], algorithm: str = "HS256") -> str:
    header = {"alg": algorithm, "typ": "JWT"}
    return compact_jwt(header, dumps(claims), TEST_JWT_SECRET, algorithm=algorithm).decode()


def authorizations(world: World) -> st.SearchStrategy[str]:
    """Authorization header values: junk, malformed Bearer, and tokens signed with our key but absurd."""
    now = int(time.time())
    real_sub = st.sampled_from([user.user.id for user in world.users.values() if user])
    claims = st.fixed_dictionaries(
        {},
        optional={
            "sub": st.one_of(
                real_sub,
                real_sub.map(lambda sub: sub + "\x00"),
                real_sub,
                short_text,
                json_values(3),
                st.integers(min_value=2_000, max_value=9_000).map(lambda n: "u" * n),
            ),
            "exp": st.one_of(
                st.just(now + 3_600),
                st.just(now + 3_600),
                st.just(10**20),
                numbers(),
                iso_datetimes(),
                json_values(2),
            ),
            "iat": st.one_of(numbers(), json_values(2)),
            "nbf": st.one_of(numbers(), json_values(2)),
            "role": st.one_of(st.sampled_from(["admin", "agent", "client", "root"]), json_values(2)),
            "email": json_values(2),
            "aud": json_values(2),
            "iss": json_values(2),
        },
    )
    signed = st.tuples(claims, st.sampled_from(["HS256", "HS256", "HS384", "none"])).map(
        lambda pair: "Bearer " + _token(*pair)
    )
    return st.one_of(
        signed,
        signed,
        st.sampled_from(
            [
                "Bearer",
                "Bearer ",
                "bearer x.y.z",
                "Basic YTpi",
                "Bearer a.b",
                "Bearer ....",
                "Bearer " + "A" * 8_000,
            ]
        ),
        short_text.map(lambda text: "Bearer " + text),
        short_text,
    ).filter(lambda value: "\r" not in value and "\n" not in value)


def routes(world: World) -> st.SearchStrategy[Probe]:
    auth = st.one_of(
        st.just(None),
        authorizations(world),
        st.sampled_from([h[0][1] for role in ("admin", "client") if (h := world.headers(role))]),
    )
    export_query = st.lists(
        st.tuples(
            st.sampled_from(EXPORT_PARAMS),
            st.one_of(short_text, iso_datetimes(), numbers().map(str), st.sampled_from(world.ids)),
        ),
        max_size=5,
    ).map(lambda pairs: urlencode([(key, encode_text(value)) for key, value in pairs]))
    dashboard_token = st.one_of(
        st.sampled_from(world.public_tokens),
        short_text.map(lambda text: quote(encode_text(text), safe="")),
        st.sampled_from(PATH_ODDITIES),
    )
    simple = st.sampled_from(
        ["/healthz", "/readyz", "/metrics", "/", "/graphql/", "/export/", "/webhooks/lead/", "/nope"]
    )
    paths = st.one_of(
        st.tuples(st.sampled_from(["/export/leads.csv", "/export/calls.csv"]), export_query).map(
            lambda pair: f"{pair[0]}?{pair[1]}"
        ),
        dashboard_token.map(lambda token: f"/dashboard/{token}"),
        st.tuples(simple, short_text.map(lambda text: quote(encode_text(text), safe="=&"))).map(
            lambda pair: f"{pair[0]}?{pair[1]}"
        ),
    )
    methods = st.sampled_from(["GET", "GET", "GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"])

    def probe(method: str, path: str, authorization: str | None) -> Probe:
        headers = (("Authorization", authorization),) if authorization is not None else ()
        raw = unsendable(headers) or len(path) > 4_000
        route = path.split("?", 1)[0].rsplit("/", 1)[0] or path.split("?", 1)[0]
        return Probe(f"route {method} {route[:30]}", method, path, headers, raw=raw)

    return st.tuples(methods, paths, auth).map(lambda triple: probe(*triple))


def as_admin_and_anonymous(world: World, probes: list[Probe]) -> list[Probe]:
    """Each route input also sent as an admin (past authentication, into the parameters) and with no
    Authorization at all."""
    admin = world.headers("admin")
    sent = []
    for probe in probes:
        sent.append(probe)
        if probe.headers != admin:
            sent.append(replace(probe, headers=admin, raw=len(probe.path) > 4_000))
        if probe.headers:
            sent.append(replace(probe, headers=(), raw=len(probe.path) > 4_000))
    return sent


def raw_paths(world: World) -> st.SearchStrategy[Probe]:
    """Request targets written byte for byte: odd escapes in every route's path segment."""
    prefixes = [
        "/dashboard/",
        "/webhooks/lead/",
        "/webhooks/dialpad/",
        "/export/",
        "/graphql/",
        "/healthz/",
        "/",
    ]
    pairs = [(prefix, odd) for prefix in prefixes for odd in PATH_ODDITIES]
    return st.tuples(st.sampled_from(pairs), st.sampled_from(["GET", "POST"])).map(
        lambda pair: Probe(f"raw path {pair[1]} {pair[0][0]}", pair[1], pair[0][0] + pair[0][1], raw=True)
    )
