"""Dashboard metrics for one tenant or a batch of tenants (one query batch whatever the count)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from domain.errors import BadInput, DomainError, Forbidden, NotFound
from domain.metrics import Breakdowns, Metrics, default_range, previous_range, range_problem
from domain.roles import Principal, can_see_agent_emails, can_see_agent_row, can_see_tenant
from domain.tenants import SlaClock
from persistence import metrics as metric_store
from persistence import tenants as tenant_store
from persistence.tenants import TenantRow
from services.deps import Deps


@dataclass(frozen=True)
class MetricsKey:
    """What a caller asks for: a tenant and an optional range (None: the last 30 tenant days); with
    `details` the breakdowns too, with `previous` the same figures for the period just before."""

    tenant_id: UUID
    range_from: datetime | None = None
    range_to: datetime | None = None
    details: bool = False
    previous: bool = False
    # The previous period's breakdowns too.
    previous_details: bool = False
    # The time-to-first-contact figures and contacted within the SLA (of the range, of the previous
    # period): a caller that selects none of them may say so, and they are not computed.
    first_contact: bool = True
    previous_first_contact: bool = True


def _request(key: MetricsKey, tenant: TenantRow, now: datetime) -> metric_store.MetricsRequest:
    for name, given in (("from", key.range_from), ("to", key.range_to)):
        if given is not None and given.tzinfo is None:
            raise BadInput(f"{name} needs a UTC offset", fields={name: "needs a UTC offset"})
    # Neither bound: the last 30 tenant days; only `to`: the 30 tenant days before it; only
    # `from`: up to the end of today.
    anchor = key.range_to - timedelta(microseconds=1) if key.range_to is not None else now
    default = default_range(anchor, tenant.timezone)
    range_from = key.range_from or default.range_from
    range_to = key.range_to or default_range(now, tenant.timezone).range_to
    problem = range_problem(range_from, range_to)
    if problem:
        raise BadInput(f"bad range: {next(iter(problem.values()))}", fields=problem)
    settings = tenant.settings
    return metric_store.MetricsRequest(
        tenant_id=tenant.id,
        timezone=tenant.timezone,
        range_from=range_from.astimezone(UTC),
        range_to=range_to.astimezone(UTC),
        sla_seconds=settings.sla_seconds,
        hours=settings.weekly_hours(),
        holidays=settings.holidays,
        business_sla=settings.sla_clock is SlaClock.BUSINESS_HOURS,
        details=key.details,
        first_contact=key.first_contact,
        source_costs=settings.source_costs,
    )


def _previous(
    request: metric_store.MetricsRequest, *, details: bool, first_contact: bool
) -> metric_store.MetricsRequest:
    before = previous_range(request.range_from, request.range_to, request.timezone)
    return replace(
        request,
        range_from=before.range_from.astimezone(UTC),
        range_to=before.range_to.astimezone(UTC),
        details=details,
        first_contact=first_contact,
    )


def _visible(breakdowns: Breakdowns | None, actor: Principal) -> Breakdowns | None:
    """The per-agent rows `actor` may see (domain.roles), emails only for those who may see them."""
    if breakdowns is None:
        return None
    emails = can_see_agent_emails(actor)
    rows = tuple(
        row if emails else replace(row, email=None)
        for row in breakdowns.by_agent
        if can_see_agent_row(actor, row.email)
    )
    return replace(breakdowns, by_agent=rows)


def _for_viewer(metrics: Metrics, actor: Principal) -> Metrics:
    return replace(metrics, breakdowns=_visible(metrics.breakdowns, actor))


async def metrics_batch(
    deps: Deps, *, actor: Principal, keys: Sequence[MetricsKey]
) -> list[Metrics | DomainError]:
    """Metrics per key in key order, or the error for that key (unknown tenant, forbidden, bad range)."""
    now = deps.clock.now()
    answers: list[Metrics | DomainError | None] = [None] * len(keys)
    async with deps.reader() as connection:
        tenants = await tenant_store.get_tenants(connection, list({key.tenant_id for key in keys}))
        requests: list[metric_store.MetricsRequest] = []
        # Where each answered key's request, and its previous period's, are in `requests`.
        own_at: dict[int, int] = {}
        previous_at: dict[int, int] = {}
        for position, key in enumerate(keys):
            tenant = tenants.get(key.tenant_id)
            try:
                if not can_see_tenant(actor, key.tenant_id):
                    raise Forbidden("you may not see this tenant", fields={"tenantId": "not visible to you"})
                if tenant is None:
                    raise NotFound("no such tenant", fields={"tenantId": "unknown"})
                request = _request(key, tenant, now)
                own_at[position] = len(requests)
                requests.append(request)
                if key.previous:
                    # Same statement: the previous period is one more request of the batch.
                    previous_at[position] = len(requests)
                    requests.append(
                        _previous(
                            request, details=key.previous_details, first_contact=key.previous_first_contact
                        )
                    )
            except DomainError as error:
                answers[position] = error
        found = await metric_store.tenant_metrics(connection, requests, now=now)
        for position, index in own_at.items():
            previous = found[previous_at[position]] if position in previous_at else None
            answers[position] = replace(
                _for_viewer(found[index], actor),
                previous=_for_viewer(previous, actor) if previous is not None else None,
            )
    return [answer for answer in answers if answer is not None]


async def tenant_metrics(
    deps: Deps,
    *,
    actor: Principal,
    tenant_id: UUID,
    range_from: datetime | None = None,
    range_to: datetime | None = None,
    details: bool = False,
    previous: bool = False,
) -> Metrics:
    """Metrics of one tenant over [from, to), by default its last 30 days."""
    key = MetricsKey(tenant_id, range_from, range_to, details=details, previous=previous)
    (answer,) = await metrics_batch(deps, actor=actor, keys=[key])
    if isinstance(answer, DomainError):
        raise answer
    return answer
