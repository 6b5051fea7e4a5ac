"""Properties of `metrics` over drawn ranges, on issue 17's hand-computed data set (posted through the
real webhooks to a real server, tests/metrics/test_breakdowns.py `world`): an outside reviewer's
sweep. Every count that belongs to a lead or a call of the range adds up when the range is cut in
two anywhere, per agent and per source too; `previous` of a range equals the range of the same
length asked for by itself; the figures are consistent with each other."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from tests.conftest import graphql
from tests.fuzz.support import draw
from tests.metrics.test_breakdowns import world  # noqa: F401 (the fixture)

RATE = "numerator denominator value"
SPEED = "attemptedLeads unattemptedLeads withinSla breached bands { count } medianSeconds p90Seconds"
FIGURES = f"""
    from to leads speedToLead {{ {SPEED} }} businessHours {{ {SPEED} }}
    timeToFirstContact {{ {SPEED} }} businessHoursToFirstContact {{ {SPEED} }}
    contactedWithinSla {{ {RATE} }} leadResponseRate {{ {RATE} }} connectionRate {{ {RATE} }} bookingRate {{ {RATE} }}
    attemptsToContact {{ contactedLeads }}
    missedInbound {{ total missed abandoned voicemail calledBack {{ {RATE} }} }}
    byAgent {{ agentId attempts leadsFirstAttempted connects bookings }}
    bySource {{ source leads withinSla contacted booked }}
"""
QUERY = f"""
query ($tenantId: ID!, $from: DateTime, $to: DateTime) {{
  metrics(tenantId: $tenantId, from: $from, to: $to) {{ {FIGURES} previous {{ {FIGURES} }} }}
}}
"""
# Counts of the range's leads or calls: the sum over two halves is the whole.
ADDITIVE = [
    ("leads",),
    *(
        (figure, field)
        for figure in ("speedToLead", "businessHours", "timeToFirstContact", "businessHoursToFirstContact")
        for field in ("attemptedLeads", "unattemptedLeads", "withinSla", "breached")
    ),
    *(
        (rate, part)
        for rate in ("contactedWithinSla", "leadResponseRate", "connectionRate", "bookingRate")
        for part in ("numerator", "denominator")
    ),
    ("attemptsToContact", "contactedLeads"),
    *(("missedInbound", field) for field in ("total", "missed", "abandoned", "voicemail")),
    ("missedInbound", "calledBack", "numerator"),
]
START = datetime(2024, 3, 4, 5, tzinfo=UTC)
ZONE = ZoneInfo("America/New_York")
EXAMPLES = 25


def _at(metrics: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        metrics = metrics[key]
    return metrics


def _rows(metrics: dict[str, Any], kind: str, key: str) -> dict[str, dict[str, int]]:
    return {row[key]: row for row in metrics[kind]}


def _consistent(m: dict[str, Any]) -> list[str]:
    problems = []
    for figure in ("speedToLead", "businessHours", "timeToFirstContact", "businessHoursToFirstContact"):
        s = m[figure]
        if s["attemptedLeads"] + s["unattemptedLeads"] != m["leads"]:
            problems.append(f"{figure}: attempted + unattempted != leads")
        if s["withinSla"] + s["breached"] > m["leads"]:
            problems.append(f"{figure}: within + breached > leads")
        if sum(band["count"] for band in s["bands"]) != s["attemptedLeads"]:
            problems.append(f"{figure}: bands != attempted")
        if s["medianSeconds"] is not None and s["medianSeconds"] > s["p90Seconds"]:
            problems.append(f"{figure}: median > p90")
    if m["timeToFirstContact"]["attemptedLeads"] != m["leadResponseRate"]["numerator"]:
        problems.append("leads reached differ")
    if m["timeToFirstContact"]["withinSla"] != m["contactedWithinSla"]["numerator"]:
        problems.append("reached within the SLA differ")
    if m["attemptsToContact"]["contactedLeads"] != m["leadResponseRate"]["numerator"]:
        problems.append("attemptsToContact.contactedLeads != leads reached")
    if sum(row["leads"] for row in m["bySource"]) != m["leads"]:
        problems.append("bySource leads != leads")
    if sum(row["attempts"] for row in m["byAgent"]) > m["connectionRate"]["denominator"]:
        problems.append("agents' attempts > outbound calls")
    missed = m["missedInbound"]
    if missed["missed"] + missed["abandoned"] + missed["voicemail"] != missed["total"]:
        problems.append("missed kinds != total")
    return problems


async def test_counts_add_up_over_any_cut_and_previous_is_the_range_before(world) -> None:  # noqa: F811
    http, admin, tenant = world["http"], world["admin"], str(world["tenant"].id)

    async def metrics(start: datetime, end: datetime) -> dict[str, Any]:
        body = await graphql(
            http, QUERY, {"tenantId": tenant, "from": start.isoformat(), "to": end.isoformat()}, user=admin
        )
        assert "errors" not in body, body
        result: dict[str, Any] = body["data"]["metrics"]
        return result

    cuts = draw(
        st.tuples(st.integers(0, 10 * 24 * 60), st.integers(1, 5 * 24 * 60), st.integers(1, 5 * 24 * 60)),
        EXAMPLES,
        name="metrics-cuts",
    )
    problems: list[str] = []
    split = 0  # cuts with leads on both sides: the sums mean something only then
    for start, first, second in cuts:
        a = START + timedelta(minutes=start)
        b, c = a + timedelta(minutes=first), a + timedelta(minutes=first + second)
        whole, left, right = await metrics(a, c), await metrics(a, b), await metrics(b, c)
        where = f"[{a}, {b}, {c})"
        split += left["leads"] > 0 and right["leads"] > 0
        for figures in (whole, left, right, whole["previous"]):
            problems += [f"{where}: {problem}" for problem in _consistent(figures)]
        for path in ADDITIVE:
            if _at(whole, path) != _at(left, path) + _at(right, path):
                problems.append(
                    f"{where}: {'.'.join(path)} {_at(whole, path)} != {_at(left, path)} + {_at(right, path)}"
                )
        for kind, key, fields in (
            ("byAgent", "agentId", ("attempts", "leadsFirstAttempted", "connects", "bookings")),
            ("bySource", "source", ("leads", "withinSla", "contacted", "booked")),
        ):
            rows = [_rows(figures, kind, key) for figures in (whole, left, right)]
            for name in set().union(*rows):
                for field in fields:
                    parts = [row.get(name, {}).get(field, 0) for row in rows]
                    if parts[0] != parts[1] + parts[2]:
                        problems.append(f"{where}: {kind} {name} {field} {parts}")
        if b.astimezone(ZONE).time() == c.astimezone(ZONE).time() == time():
            continue  # whole tenant days: `previous` counts days (test_attack_previous_range.py)
        # Not whole tenant days: the previous period is the same duration before.
        before = await metrics(b - (c - b), b)
        previous = right["previous"]
        if {k: v for k, v in previous.items() if k != "previous"} != {
            k: v for k, v in before.items() if k != "previous"
        }:
            problems.append(f"{where}: previous of [b, c) differs from the range before asked alone")
    assert not problems, f"{len(problems)} problems; first: " + "\n".join(problems[:5])
    assert split >= EXAMPLES // 5, split
