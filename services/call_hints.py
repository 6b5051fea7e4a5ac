"""What one process remembers between Dialpad events (tenants, legs, customer calls): hints only."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

from domain.dialpad_events import CallEventFacts
from persistence.calls import EventTenant, KnownEvents, WrittenCall

_MAX_TENANTS = 10_000
_MAX_KNOWN = 20_000
_MAX_LEGS = 100_000


@dataclass(frozen=True)
class KnownLeg:
    """A leg's stored events as this process last read or wrote them, with the row and count they were of."""

    events: KnownEvents
    facts: tuple[CallEventFacts, ...]
    # The row as this process last wrote it (a call of one leg only), for `call_store.apply_known_event`.
    row: WrittenCall | None = None


@dataclass
class CallEventHints:
    """Per process (the runtime's `Deps` holds one), so an event needs not read what this process saw.

    `tenants`: slug -> the tenant as last read, so an event needs no tenant query of its own; the
    event write checks the secret, timezone and settings are still these, and an event the hint
    cannot verify is verified again after a fresh read, so a rotated secret or a changed setting takes
    effect at once. `known`: (tenant id, Dialpad call id) -> the leg's events as committed by the last
    event this process applied to it, and `groups`: (tenant id, customer call key) -> its legs then;
    the event write checks the leg's row and count are still those (another process or a redelivery
    may have added one), and reads them when not.

    `company_secret`: the company endpoint's secret as last read; an event it does not verify is
    verified again with a fresh read, so a secret changed by `calltrax dialpad setup` applies at once.
    `legs`: Dialpad call id -> the slug its leg was routed to, so a leg's later events (about 2.5 of
    3.5) skip the routing statement. A leg belongs to one tenant once routed; the apply path still
    checks the tenant is current. Events of a leg that reach another process are routed there by the
    leg (LINKED_CALL) anyway."""

    tenants: dict[str, EventTenant] = field(default_factory=dict)
    known: dict[tuple[UUID, str], KnownLeg] = field(default_factory=dict)
    groups: dict[tuple[UUID, str], tuple[str, ...]] = field(default_factory=dict)
    company_secret: str | None = None
    legs: dict[str, str] = field(default_factory=dict)

    def routed_legs(self) -> dict[str, str]:
        """`legs`, emptied first when full."""
        if len(self.legs) >= _MAX_LEGS:
            self.legs.clear()
        return self.legs

    def remember_tenant(self, slug: str, tenant: EventTenant | None) -> None:
        """Keep the tenant as just read (None: there is none at `slug`)."""
        if tenant is None:
            self.tenants.pop(slug, None)
            return
        if len(self.tenants) >= _MAX_TENANTS:
            self.tenants.clear()
        self.tenants[slug] = tenant

    def learn(self, tenant_id: UUID, legs: dict[str, KnownLeg], group: tuple[str, ...] | None) -> None:
        """Remember what a committed event's transaction read and wrote."""
        if len(self.known) >= _MAX_KNOWN:
            self.known.clear()
            self.groups.clear()
        for call_id, known in legs.items():
            self.known[(tenant_id, call_id)] = known
        if group is not None:
            self.groups[(tenant_id, group[0])] = group[1:]
