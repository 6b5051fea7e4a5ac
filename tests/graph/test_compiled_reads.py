"""Compiled reads (docs/reads.md) answer exactly as the resolvers do: generated selections over the read
schema, as every role and as a caller of another tenant, sent to an app with compiled reads and to
one without (CALLTRAX_GRAPHQL_COMPILED_READS=false), must get identical JSON, data and errors."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from asgi_lifespan import LifespanManager
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import graph.app as graph_app
from graph import compiled_reads
from graph.relay import encode_cursor
from graph.schema import schema
from persistence import graph_reads
from persistence.keyset import PageKey
from tests.fuzz.support import draw
from tests.graph.factories import BASE_TIME

GRAPHQL_SCHEMA = schema._schema
# Roots the compiler takes, and a few it leaves to the resolvers (the whole operation then falls back).
COMPILED_ROOTS = ("leads", "calls", "lead", "call")
OTHER_ROOTS = ("me { id role }", "tenants { id slug }")
EXAMPLES = int(os.environ.get("COMPILED_READS_EXAMPLES", "400"))


@dataclass
class Seeded:
    tenants: dict[str, UUID]
    leads: dict[str, list[UUID]]
    calls: dict[str, list[UUID]]
    cursors: list[str]
    users: dict[str, Any] = field(default_factory=dict)


async def _seed(
    engine: AsyncEngine, tenant_id: UUID, label: str, author: str
) -> tuple[list[UUID], list[UUID]]:
    """Leads with every kind of detail: nulls, microseconds, ties in the timeline, legs, agents."""
    leads: list[UUID] = []
    calls: list[UUID] = []
    async with engine.begin() as connection:
        for index in range(7):
            created = BASE_TIME + timedelta(minutes=index * 7, microseconds=(index % 3) * 123457)
            contact = (
                await connection.execute(
                    text(
                        "INSERT INTO contacts (tenant_id, phone, phone_raw, email, name, city) "
                        "VALUES (:t, :phone, :raw, :email, :name, :city) RETURNING id"
                    ),
                    {
                        "t": tenant_id,
                        "phone": f"+1555{(label[:1] == 'o' and 1) or 2}{index:06d}" if index != 3 else None,
                        "raw": "(555) 01" if index == 3 else None,
                        "email": f"{label}{index}@customer.test" if index % 2 else None,
                        "name": f"{label} person {index}" if index != 5 else None,
                        "city": "Lyon" if index == 2 else None,
                    },
                )
            ).scalar_one()
            lead = (
                await connection.execute(
                    text(
                        "INSERT INTO leads (tenant_id, contact_id, source, status, notes, city, external_id, "
                        "created_at, first_attempt_at, first_connected_at, booked_at) VALUES "
                        "(:t, :c, :source, :status, :notes, :city, :ext, :created, :attempt, :connected, :booked) "
                        "RETURNING id"
                    ),
                    {
                        "t": tenant_id,
                        "c": contact,
                        "source": ("webhook", "facebook", "google")[index % 3],
                        "status": ("new", "contacted", "booked", "closed")[index % 4],
                        "notes": f"{label} notes {index}" if index % 2 == 0 else None,
                        "city": "Nice" if index == 1 else None,
                        "ext": f"ext-{index}" if index == 4 else None,
                        "created": created,
                        "attempt": created + timedelta(seconds=95.25) if index % 2 else None,
                        "connected": created + timedelta(seconds=100) if index == 1 else None,
                        "booked": created + timedelta(hours=1) if index == 2 else None,
                    },
                )
            ).scalar_one()
            leads.append(lead)
            for number in range(index % 4):
                started = None if (index, number) == (3, 2) else created + timedelta(minutes=number)
                call = (
                    await connection.execute(
                        text(
                            "INSERT INTO calls (tenant_id, external_id, lead_id, contact_id, direction, status, "
                            "disposition, disposition_raw, booked, started_at, connected_at, ended_at, "
                            "duration_seconds, agent_id, agent_name, agent_email, customer_call_key, "
                            "is_primary_leg, event_count, voicemail, recording_url) VALUES (:t, :ext, :l, :c, "
                            ":direction, :status, :disposition, :raw, :booked, :started, :connected, :ended, "
                            ":duration, :agent_id, :agent_name, :agent_email, :key, TRUE, 2, :voicemail, :rec) "
                            "RETURNING id"
                        ),
                        {
                            "t": tenant_id,
                            "ext": f"{label}-{index}-{number}",
                            "l": lead,
                            "c": contact if number != 1 else None,
                            "direction": ("outbound", "inbound")[number % 2],
                            "status": ("completed", "no_answer", "voicemail")[number % 3],
                            "disposition": "booked" if number == 2 else None,
                            "raw": " Booked " if number == 2 else None,
                            "booked": number == 2,
                            "started": started,
                            "connected": created + timedelta(minutes=number, seconds=5)
                            if number == 0
                            else None,
                            "ended": created + timedelta(minutes=number, seconds=65.5),
                            # A whole number too: a Float keeps its `.0` on both paths.
                            "duration": (60.5 if index % 2 else 12) if number == 0 else None,
                            "agent_id": "u1" if number == 0 else None,
                            "agent_name": ("Agent A", "", None)[number],
                            "agent_email": None,
                            "key": f"{label}-{index}-{number}",
                            "voicemail": number == 2,
                            "rec": "https://rec.test/1" if number == 0 else None,
                        },
                    )
                ).scalar_one()
                calls.append(call)
                if number == 0:
                    # A second leg of the same customer call (not listed, but among `legs`).
                    await connection.execute(
                        text(
                            "INSERT INTO calls (tenant_id, external_id, lead_id, direction, status, "
                            "customer_call_key, is_primary_leg, event_count, started_at) VALUES "
                            "(:t, :ext, :l, 'outbound', 'completed', :key, FALSE, 1, :started)"
                        ),
                        {
                            "t": tenant_id,
                            "ext": f"{label}-{index}-{number}-leg",
                            "l": lead,
                            "key": f"{label}-{index}-{number}",
                            "started": started,
                        },
                    )
            if index % 3 == 1:
                await connection.execute(
                    text(
                        "INSERT INTO lead_notes (tenant_id, lead_id, author_id, body, created_at) VALUES "
                        "(:t, :l, :a, 'called back', :at), (:t, :l, NULL, 'second', :at)"
                    ),
                    {"t": tenant_id, "l": lead, "a": author, "at": created + timedelta(minutes=1)},
                )
                # At the lead's own creation time: the timeline keeps arrival first on ties.
                await connection.execute(
                    text(
                        "INSERT INTO lead_status_changes (tenant_id, lead_id, from_status, to_status, "
                        "changed_by, reason, changed_at) VALUES (:t, :l, NULL, 'new', NULL, NULL, :c), "
                        "(:t, :l, 'new', 'contacted', :a, 'reached', :at)"
                    ),
                    {
                        "t": tenant_id,
                        "l": lead,
                        "a": author,
                        "c": created,
                        "at": created + timedelta(minutes=1),
                    },
                )
    return leads, calls


@pytest.fixture
async def seeded(make_tenant, make_user, engine: AsyncEngine) -> Seeded:
    own, other = await make_tenant(), await make_tenant()
    admin = await make_user("admin")
    own_leads, own_calls = await _seed(engine, own.id, "own", admin.user.id)
    other_leads, other_calls = await _seed(engine, other.id, "other", admin.user.id)
    async with engine.begin() as connection:
        # Open leads of several ages, and a tenant with its own stage bounds: `Lead.stage` reads the
        # clock and the tenant's bounds on both paths (the seeded times are a year old: all stage 4).
        await connection.execute(
            text("UPDATE tenants SET settings = settings || CAST(:s AS jsonb) WHERE id = :t"),
            {"s": json.dumps({"stage_bounds": [3600, 7200, 10800]}), "t": other.id},
        )
        for tenant in (own.id, other.id):
            for offset, hours in enumerate((0.5, 2.5, 30, 100)):
                await connection.execute(
                    text(
                        "UPDATE leads SET created_at = now() - make_interval(secs => :h * 3600) WHERE id = "
                        "(SELECT id FROM leads WHERE tenant_id = :t AND status IN ('new', 'contacted') "
                        "ORDER BY id LIMIT 1 OFFSET :k)"
                    ),
                    {"h": hours, "t": tenant, "k": offset},
                )
    async with engine.connect() as connection:
        rows = (
            await connection.execute(text("SELECT created_at, id FROM leads ORDER BY random() LIMIT 3"))
        ).all()
    return Seeded(
        tenants={"own": own.id, "other": other.id},
        leads={"own": own_leads, "other": other_leads},
        calls={"own": own_calls, "other": other_calls},
        cursors=[encode_cursor(PageKey(sort=row[0], id=row[1])) for row in rows],
        users={
            "admin": admin,
            "agent": await make_user("agent", tenants=[own]),
            "client": await make_user("client", tenant=own),
            "other tenant's client": await make_user("client", tenant=other),
        },
    )


@pytest.fixture
async def both(make_app) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """Two apps on the one database: compiled reads on, and off (resolvers only)."""
    compiled, resolved = make_app(), make_app(graphql_compiled_reads=False)
    async with (
        LifespanManager(compiled) as one,
        LifespanManager(resolved) as two,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=one.app), base_url="http://testserver") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=two.app), base_url="http://testserver") as b,
    ):
        yield a, b


def _unwrap(kind: Any) -> Any:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind


class _Document:
    """A document under construction: named fragments and the variables it uses."""

    def __init__(self) -> None:
        self.fragments: list[str] = []
        self.variables: dict[str, tuple[str, Any]] = {}

    def variable(self, kind: str, value: Any) -> str:
        name = f"v{len(self.variables)}"
        self.variables[name] = (kind, value)
        return f"${name}"


@st.composite
def _selection(draw_: Callable[..., Any], doc: _Document, type_: GraphQLObjectType, depth: int) -> str:
    # Every field of the type, those the compiler leaves to the resolvers (Lead.stage) included.
    names = sorted(type_.fields)
    chosen = draw_(st.lists(st.sampled_from(names), min_size=1, max_size=5))
    if draw_(st.booleans()):
        chosen.append("__typename")
    parts: list[str] = []
    for name in chosen:
        field_ = type_.fields.get(name)
        target = _unwrap(field_.type) if field_ is not None else None
        if field_ is not None and field_.args:
            continue  # Tenant.metrics and friends are not on the read types drawn here
        inner = ""
        if isinstance(target, GraphQLObjectType):
            if depth >= 6:
                continue
            inner = f" {{ {draw_(_selection(doc, target, depth + 1))} }}"
        text_ = name
        alias = draw_(st.sampled_from(["", "", "", "a1", "b2"]))
        if alias and name != "__typename":
            text_ = f"{alias}{name}: {name}"
        directive = draw_(st.sampled_from(["", "", "", "", "skip_t", "include_f", "include_var", "skip_var"]))
        if directive == "skip_t":
            text_ += " @skip(if: true)"
        elif directive == "include_f":
            text_ += " @include(if: false)"
        elif directive == "include_var":
            text_ += f" @include(if: {doc.variable('Boolean!', draw_(st.booleans()))})"
        elif directive == "skip_var":
            text_ += f" @skip(if: {doc.variable('Boolean!', draw_(st.booleans()))})"
        text_ += inner
        parts.append(text_)
    if not parts:
        parts.append("__typename")
    body = " ".join(parts)
    wrap = draw_(st.sampled_from(["", "", "inline", "typed", "named"]))
    if wrap == "inline":
        return f"... {{ {body} }}"
    if wrap == "typed":
        return f"... on {type_.name} {{ {body} }} __typename"
    if wrap == "named":
        name = f"F{len(doc.fragments)}"
        doc.fragments.append(f"fragment {name} on {type_.name} {{ {body} }}")
        return f"...{name}"
    return body


_INSTANTS = [(BASE_TIME + timedelta(minutes=minutes)).isoformat() for minutes in (-5, 0, 14, 20, 600)]


@st.composite
def _filters(draw_: Callable[..., Any], seeded: Seeded, root: str) -> str:
    """A filter literal: each field now and then, good values mostly, bad ones sometimes."""
    if root == "leads":
        choices = {
            "status": st.sampled_from(["[NEW]", "[BOOKED, CLOSED]", "[]"]),
            "source": st.sampled_from(['["webhook"]', '["google", "nowhere"]']),
            "createdFrom": st.sampled_from(_INSTANTS).map(json.dumps),
            "createdTo": st.sampled_from(_INSTANTS).map(json.dumps),
            "search": st.sampled_from(
                ['"person 1"', '"OWN"', '"555"', '"customer.test"', json.dumps("x" * 201)]
            ),
            "stage": st.sampled_from(["[FOLLOW_UP_1]", "[]"]),
        }
    else:
        choices = {
            "direction": st.sampled_from(["[INBOUND]", "[OUTBOUND, INBOUND]"]),
            "status": st.sampled_from(["[COMPLETED]", "[NO_ANSWER, VOICEMAIL]"]),
            "disposition": st.sampled_from(['[" Booked "]', '["none"]']),
            "startedFrom": st.sampled_from(_INSTANTS).map(json.dumps),
            "startedTo": st.sampled_from(_INSTANTS).map(json.dumps),
            "leadId": st.sampled_from(
                [str(seeded.leads["own"][1]), str(seeded.leads["other"][2]), "not-an-id"]
            ).map(json.dumps),
            "legs": st.sampled_from(["true", "false"]),
        }
    chosen = draw_(st.lists(st.sampled_from(sorted(choices)), max_size=3, unique=True))
    return "{" + ", ".join(f"{key}: {draw_(choices[key])}" for key in chosen) + "}"


@st.composite
def documents(draw_: Callable[..., Any], seeded: Seeded) -> tuple[str, dict[str, Any]]:
    doc = _Document()
    query_type = GRAPHQL_SCHEMA.query_type
    assert query_type is not None
    roots: list[str] = []
    for index in range(draw_(st.sampled_from([1, 1, 1, 2]))):
        if draw_(st.integers(0, 19)) == 0:
            roots.append(draw_(st.sampled_from(OTHER_ROOTS)))
            continue
        name = draw_(st.sampled_from(COMPILED_ROOTS))
        target = _unwrap(query_type.fields[name].type)
        arguments: list[str] = []
        if name in ("lead", "call"):
            pool = seeded.leads if name == "lead" else seeded.calls
            # Mostly rows some caller may see; now and then one nobody has, or no id at all.
            kind = draw_(st.sampled_from(["own"] * 5 + ["other"] * 3 + ["missing", "malformed"]))
            value = {"missing": str(uuid4()), "malformed": "not-an-id"}.get(kind) or str(
                draw_(st.sampled_from(pool.get(kind, pool["own"])))
            )
            arguments.append(
                f"id: {doc.variable('ID!', value)}" if draw_(st.booleans()) else f'id: "{value}"'
            )
        else:
            tenant = draw_(
                st.sampled_from(
                    [None] * 4
                    + [str(seeded.tenants["own"])] * 2
                    + [str(seeded.tenants["other"]), str(uuid4()), "bad"]
                )
            )
            if tenant is not None:
                arguments.append(f'tenantId: "{tenant}"')
            first = draw_(st.sampled_from([None] * 6 + [0, 1, 2, 2, 3, 3, 5, 50, 101, -1]))
            if first is not None:
                arguments.append(
                    f"first: {doc.variable('Int', first)}" if draw_(st.booleans()) else f"first: {first}"
                )
            after = draw_(st.sampled_from([None] * 8 + ["garbage", *seeded.cursors, *seeded.cursors]))
            if after is not None:
                arguments.append(f'after: "{after}"')
            if draw_(st.integers(0, 2)) == 0:
                arguments.append(f"filter: {draw_(_filters(seeded, name))}")
        alias = f"r{index}: " if draw_(st.booleans()) or index else ""
        args = f"({', '.join(arguments)})" if arguments else ""
        roots.append(f"{alias}{name}{args} {{ {draw_(_selection(doc, target, 1))} }}")
    definitions = ", ".join(f"${name}: {kind}" for name, (kind, _) in doc.variables.items())
    header = f"query Read({definitions})" if definitions else "query Read"
    document = f"{header} {{ {' '.join(roots)} }} {' '.join(doc.fragments)}"
    return document, {name: value for name, (_, value) in doc.variables.items()}


async def _post(http: httpx.AsyncClient, user: Any, document: str, variables: dict[str, Any]) -> Any:
    response = await http.post(
        "/graphql", json={"query": document, "variables": variables}, headers=user.headers
    )
    # Numbers as spelled: `12` and `12.0` are equal once parsed, but a typed client reads an Int and a
    # Float (the compiled path once wrote whole Floats without their `.0`).
    spelled = json.loads(response.text, parse_float=lambda s: ("float", s), parse_int=lambda s: ("int", s))
    return response.status_code, spelled


def _same_race(got: tuple[int, Any], expected: tuple[int, Any]) -> bool:
    """Both answers null `data` with one error at a root field, of the same kind."""
    answers = (got[1], expected[1])
    if any(answer.get("data") is not None or len(answer.get("errors", ())) != 1 for answer in answers):
        return False
    first, second = (answer["errors"][0] for answer in answers)
    return len(first["path"]) == len(second["path"]) == 1 and first["extensions"] == second["extensions"]


async def test_compiled_and_resolver_paths_answer_identically(
    seeded: Seeded, both: tuple[httpx.AsyncClient, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled_client, resolver_client = both
    answered = {"compiled": 0, "fallback": 0}
    read_json = graph_reads.read_json

    async def counting(*args: Any, **kwargs: Any) -> str | None:
        found = await read_json(*args, **kwargs)
        answered["compiled" if found is not None else "fallback"] += 1
        return found

    # Counted, not replaced: the statement still runs against the database.
    monkeypatch.setattr(graph_reads, "read_json", counting)
    cached = compiled_reads.cached_statement

    def counting_cache(*args: Any, **kwargs: Any) -> Any:
        found = cached(*args, **kwargs)
        answered["cached"] += found is not None
        return found

    # The HTTP view's shortcut for documents compiled before (graph/app.py `_compiled_answer`).
    monkeypatch.setattr(graph_app, "cached_statement", counting_cache)
    answered["cached"] = 0
    generated = draw(documents(seeded), EXAMPLES, name="compiled-reads")
    # Other ids for a by-id root's `id` variable: the cached statement of the first id serves them.
    other_ids = [
        *(str(i) for i in seeded.leads["own"][:2] + seeded.calls["own"][:2]),
        *(str(i) for i in seeded.leads["other"][:1] + seeded.calls["other"][:1]),
        str(uuid4()),
        "not-an-id",
    ]
    mismatches: list[str] = []
    for number, (document, variables) in enumerate(generated):
        rebound = dict(variables)
        for name in re.findall(r"\bid: \$(v\d+)", document):
            rebound[name] = other_ids[(number + len(name)) % len(other_ids)]
        for role, user in seeded.users.items():
            # The same request twice (the second from the statement cache when the first compiled),
            # then with other ids in the by-id roots' variables, if any.
            sends = [variables, variables] + ([rebound] if rebound != variables else [])
            for sent in sends:
                expected = await _post(resolver_client, user, document, sent)
                got = await _post(compiled_client, user, document, sent)
                if got != expected and _same_race(got, expected):
                    # Two non-null roots failing: graphql-core reports whichever resolver fails first
                    # and nulls `data` there, so the resolvers alone differ between runs (and both
                    # apps ran the resolvers here: a missing row makes the compiled path fall back).
                    got = expected
                if got != expected:
                    mismatches.append(
                        f"as {role}: {document} {json.dumps(sent)}\n  resolvers: {expected}\n  compiled:  {got}"
                    )
    assert not mismatches, f"{len(mismatches)} differ; first:\n" + "\n".join(mismatches[:3])
    # The comparison means something only if many operations did take the compiled path (the rest
    # fall back: fields and filters it leaves to the resolvers, bad input, rows out of reach), and
    # many repeated ones were answered by the shortcut.
    total = len(generated) * len(seeded.users)
    assert answered["compiled"] > total // 2, (answered, total)
    assert answered["cached"] > total // 4, (answered, total)
