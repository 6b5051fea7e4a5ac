"""Roles, the caller's identity and the permission matrix every door asks."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from uuid import UUID


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"
    CLIENT = "client"


# users.id holds the identity provider's subject; longer ones are no user's (and overflow its index).
MAX_USER_ID_LENGTH = 255


@dataclass(frozen=True)
class Principal:
    """Who is calling: the `users` row behind a verified token, with the tenants it may see."""

    user_id: str
    email: str
    role: Role
    # A client's own tenant, or an agent's assigned tenants; empty for admins (who see all).
    tenant_ids: frozenset[UUID] = field(default_factory=frozenset)

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def visible_tenant_ids(principal: Principal) -> frozenset[UUID] | None:
    """The tenants `principal` may read; None means every tenant (admins)."""
    if principal.is_admin:
        return None
    return principal.tenant_ids


def can_see_tenant(principal: Principal, tenant_id: UUID) -> bool:
    """Tenants, leads, contacts, calls, metrics and pipeline: admin all, agent assigned, client own."""
    return principal.is_admin or tenant_id in principal.tenant_ids


def can_work_leads(principal: Principal, tenant_id: UUID) -> bool:
    """Dispositions, notes and lead status changes: admins, and agents on assigned tenants."""
    if principal.is_admin:
        return True
    return principal.role is Role.AGENT and tenant_id in principal.tenant_ids


def can_administer(principal: Principal) -> bool:
    """Provisioning clients, managing users, lead webhooks and public links: admins only."""
    return principal.is_admin


def can_manage_public_links(principal: Principal, tenant_id: UUID) -> bool:
    """Public dashboard links: admins, and agents for their assigned tenants."""
    return can_work_leads(principal, tenant_id)


def can_see_agent_row(principal: Principal, agent_email: str | None) -> bool:
    """Per-agent metrics rows: admins and clients see every agent's; an agent only their own (the
    row whose email is theirs)."""
    if principal.role is Role.AGENT:
        return agent_email is not None and agent_email.casefold() == principal.email.casefold()
    return True


def can_see_agent_emails(principal: Principal) -> bool:
    """Agents' emails in per-agent metrics: admins and agents (their own row); clients see names only."""
    return principal.role is not Role.CLIENT
