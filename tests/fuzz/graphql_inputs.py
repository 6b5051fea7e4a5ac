"""GraphQL inputs: documents generated from schema.graphql, typed variables with absurd values, bad transports."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import graphql as gql
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from tests.fuzz.strategies import (
    content_types,
    dumps,
    encode_text,
    garbage_bytes,
    huge_int_literal,
    huge_text,
    iso_datetimes,
    json_values,
    numbers,
    short_text,
)
from tests.fuzz.support import Probe
from tests.fuzz.world import World

SCHEMA_SDL = (Path(__file__).parents[2] / "schema.graphql").read_text()
SCHEMA = gql.build_schema(SCHEMA_SDL)
ROLES = ("admin", "agent", "client", "anonymous")
# A value of any other type where a typed one belongs.
WRONG = json_values(max_leaves=4)


def _post(world: World, role: str, kind: str, payload: Any) -> Probe:
    headers = (("Content-Type", "application/json"), *world.headers(role))
    return Probe(f"graphql {kind} as {role}", "POST", "/graphql", headers, dumps(payload), graphql=True)


def _scalars(world: World) -> dict[str, st.SearchStrategy[gql.ValueNode]]:
    """IDs are real ones half the time (so inputs reach past NOT_FOUND); dates anything Python can hold."""
    ids = st.one_of(st.sampled_from(world.ids), short_text)
    dates = iso_datetimes()
    return {
        "ID": ids.map(nodes.String),
        "DateTime": dates.map(nodes.String),
        "Date": st.one_of(st.dates().map(str), dates).map(nodes.String),
    }


def documents(world: World, *, mutation: bool, mode: Mode = Mode.POSITIVE) -> st.SearchStrategy[str]:
    make = mutations if mutation else queries
    return make(SCHEMA_SDL, custom_scalars=_scalars(world), mode=mode)


def as_every_role(world: World, kind: str, documents: list[str]) -> list[Probe]:
    return [_post(world, role, kind, {"query": document}) for document in documents for role in ROLES]


# --- typed variables with absurd values -----------------------------------------------------------


def _absurd(world: World, type_: gql.GraphQLInputType, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped like `type_` but extreme, or of another type altogether."""
    wrong = WRONG
    if isinstance(type_, gql.GraphQLNonNull):
        return _absurd(world, type_.of_type, depth)
    if isinstance(type_, gql.GraphQLList):
        return st.one_of(st.lists(_absurd(world, type_.of_type, depth + 1), max_size=5), wrong)
    if isinstance(type_, gql.GraphQLEnumType):
        return st.one_of(st.sampled_from(list(type_.values)), short_text, wrong)
    if isinstance(type_, gql.GraphQLInputObjectType):
        if depth > 3:
            return wrong
        fields = {name: _absurd(world, field.type, depth + 1) for name, field in type_.fields.items()}
        return st.one_of(st.fixed_dictionaries({}, optional=fields), wrong)
    name = getattr(type_, "name", "")
    if name == "ID":
        return st.one_of(st.sampled_from(world.ids), short_text, huge_text, numbers(), wrong)
    if name in ("DateTime", "Date"):
        return st.one_of(iso_datetimes(), numbers(), wrong)
    if name in ("Int", "Float"):
        return st.one_of(numbers(), wrong)
    if name == "String":
        return st.one_of(short_text, huge_text, wrong)
    return wrong


def _operations() -> list[tuple[str, str, dict[str, gql.GraphQLArgument]]]:
    """(document, root field, arguments) for every root field that takes arguments, each as a variable."""
    found = []
    for keyword, root in (("query", SCHEMA.query_type), ("mutation", SCHEMA.mutation_type)):
        assert root is not None
        for name, field in root.fields.items():
            if not field.args:
                continue
            declared = ", ".join(f"${arg}: {field.args[arg].type}" for arg in field.args)
            passed = ", ".join(f"{arg}: ${arg}" for arg in field.args)
            named = gql.get_named_type(field.type)
            selection = " { __typename }" if isinstance(named, gql.GraphQLObjectType) else ""
            found.append((f"{keyword}({declared}) {{ {name}({passed}){selection} }}", name, field.args))
    return found


def typed_variables(world: World) -> st.SearchStrategy[Probe]:
    operations = _operations()

    def probe(document: str, args: dict[str, gql.GraphQLArgument]) -> st.SearchStrategy[Probe]:
        values = st.fixed_dictionaries({arg: _absurd(world, arg_.type) for arg, arg_ in args.items()})
        return st.tuples(st.sampled_from(ROLES), values).map(
            lambda pair: _post(world, pair[0], "variables", {"query": document, "variables": pair[1]})
        )

    # One strategy per operation, made once (a flatmap would rebuild them for every input: 30 ms each).
    return st.one_of([probe(document, args) for document, _, args in operations])


def also_as_admin(world: World, probes: list[Probe]) -> list[Probe]:
    """Each input sent as drawn and as an admin, the role whose requests reach every resolver."""
    admin = world.headers("admin")
    sent = []
    for probe in probes:
        sent.append(probe)
        if not probe.kind.endswith("as admin"):
            headers = tuple(header for header in probe.headers if header[0] != "Authorization") + admin
            sent.append(replace(probe, kind=probe.kind.rsplit(" as ", 1)[0] + " as admin", headers=headers))
    return sent


# --- transports: GET, bodies that are not a GraphQL request --------------------------------------


def transports(world: World) -> st.SearchStrategy[Probe]:
    role = st.sampled_from(ROLES)
    small_query = st.sampled_from(
        ["{ me { id } }", "{ tenants { id } }", "mutation { rotateLeadWebhook(tenantId: 1) { id } }", "{", ""]
    )
    get_params = st.dictionaries(
        st.sampled_from(["query", "variables", "operationName", "extensions", "x"]),
        st.one_of(small_query, short_text, json_values(4).map(json.dumps), huge_text),
        max_size=4,
    )

    def get(pair: tuple[str, dict[str, str]]) -> Probe:
        # Long but under httpx's 64 KiB URL limit (a longer one is never sent).
        query = urlencode({key: encode_text(value)[:8_000] for key, value in pair[1].items()})
        return Probe(
            f"graphql GET as {pair[0]}", "GET", f"/graphql?{query}", world.headers(pair[0]), graphql=True
        )

    def post(triple: tuple[str, str, bytes]) -> Probe:
        role, content_type, body = triple
        headers = ((("Content-Type", content_type),) if content_type else ()) + world.headers(role)
        return Probe(
            f"graphql body as {role}",
            "POST",
            "/graphql",
            headers,
            body,
            graphql=True,
            raw=_unsendable(headers),
        )

    request_shapes = st.one_of(
        json_values(6),
        st.fixed_dictionaries(
            {},
            optional={
                "query": st.one_of(small_query, json_values(3)),
                "variables": json_values(4),
                "operationName": json_values(2),
                "extensions": json_values(3),
            },
        ),
        st.lists(st.fixed_dictionaries({"query": small_query}), max_size=3),
    )
    bodies = st.one_of(
        garbage_bytes,
        request_shapes.map(dumps),
        huge_int_literal.map(
            lambda digits: b'{"query": "{ me { id } }", "variables": {"a": ' + digits.encode() + b"}}"
        ),
        small_query.map(lambda query: query.encode()),
    )
    return st.one_of(
        st.tuples(role, get_params).map(get),
        st.tuples(role, content_types, bodies).map(post),
    )


def _unsendable(headers: tuple[tuple[str, str], ...]) -> bool:
    """Header values httpx refuses to write (control characters, non-Latin-1): sent over a raw socket."""
    return any(not all(" " <= char <= "~" for char in value) for _, value in headers)
