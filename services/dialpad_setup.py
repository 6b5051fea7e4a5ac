"""The company-wide Dialpad webhook and call subscription, set up or repaired idempotently."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from domain.ports import DialpadGateway
from domain.provisioning import CALL_STATES
from persistence import dialpad_company as company_store
from persistence.dialpad_company import CompanyRow
from services.deps import Deps

log = logging.getLogger("calltrax.dialpad.setup")


@dataclass(frozen=True)
class DialpadSetup:
    """The company endpoint as it stands, and what this run changed (`actions`, in order)."""

    endpoint_url: str
    secret: str | None
    webhook_id: str | None
    subscription_id: str | None
    actions: list[str] = field(default_factory=list)
    migrated_tenants: int = 0


def company_events_url(deps: Deps) -> str:
    return f"{deps.public_base_url}/webhooks/dialpad"


def answer(deps: Deps, company: CompanyRow | None, actions: list[str], migrated: int = 0) -> DialpadSetup:
    return DialpadSetup(
        endpoint_url=company_events_url(deps),
        secret=company.secret if company else None,
        webhook_id=company.webhook_id if company else None,
        subscription_id=company.subscription_id if company else None,
        actions=actions,
        migrated_tenants=migrated,
    )


def _id(item: dict[str, Any]) -> str:
    return str(item.get("id"))


def _webhook_id(subscription: dict[str, Any]) -> str | None:
    webhook = subscription.get("webhook")
    if isinstance(webhook, dict) and webhook.get("id") is not None:
        return str(webhook["id"])
    found = subscription.get("endpoint_id") or subscription.get("webhook_id")
    return str(found) if found is not None else None


def _company_wide(subscription: dict[str, Any]) -> bool:
    return subscription.get("target_id") in (None, "") and subscription.get("target_type") in (None, "")


async def ensure_company_subscription(deps: Deps, gateway: DialpadGateway, *, check: bool) -> DialpadSetup:
    """The company webhook (at `/webhooks/dialpad`, signed with the company secret) and one call subscription
    without a target, made if missing. Without `check`, stored ids are trusted (provisioning: no Dialpad
    request once set up); with it (`calltrax dialpad setup`), Dialpad is asked and a missing, disabled
    or re-pointed webhook or subscription is repaired. Safe to run concurrently and repeatedly."""
    url = company_events_url(deps)
    if not check:
        # Set up already (every provisioning after the first): no lock, no Dialpad request.
        async with deps.reader() as connection:
            company = await company_store.get_company(connection)
        if company and company.webhook_id and company.subscription_id and company.hook_url == url:
            return answer(deps, company, [])
    async with company_store.company_lock(deps.engine):
        async with deps.unit_of_work() as tx:
            company = await company_store.ensure_company(tx.connection, secret=secrets.token_urlsafe(32))
        if not check and company.webhook_id and company.subscription_id and company.hook_url == url:
            return answer(deps, company, [])
        actions: list[str] = []

        webhooks = await gateway.list_webhooks()
        webhook = next((w for w in webhooks if company.webhook_id and _id(w) == company.webhook_id), None)
        # A webhook at our URL is ours too (made by an attempt whose id was never stored).
        webhook = webhook or next((w for w in webhooks if w.get("hook_url") == url), None)
        if webhook is None:
            webhook = await gateway.create_webhook(hook_url=url, secret=company.secret)
            actions.append(f"created webhook {_id(webhook)}")
        else:
            signature = webhook.get("signature") if isinstance(webhook.get("signature"), dict) else {}
            stored_secret = signature.get("secret") if signature else None
            # Dialpad may not show the secret in lists; it is re-set only when shown and different.
            if webhook.get("hook_url") != url or (
                stored_secret is not None and stored_secret != company.secret
            ):
                webhook = {
                    **webhook,
                    **await gateway.update_webhook(_id(webhook), hook_url=url, secret=company.secret),
                }
                actions.append(f"repaired webhook {_id(webhook)} (URL or secret)")
        webhook_id = _id(webhook)
        # Simulated ids live as long as the process: never stored, so a real key set later starts afresh.
        if not gateway.simulated:
            async with deps.unit_of_work() as tx:
                company = await company_store.update_company(
                    tx.connection, webhook_id=webhook_id, hook_url=url
                )

        subscriptions = await gateway.list_call_subscriptions()
        mine = [s for s in subscriptions if _webhook_id(s) == webhook_id and _company_wide(s)]
        subscription = next((s for s in mine if _id(s) == company.subscription_id), None) or (
            mine[0] if mine else None
        )
        if subscription is None:
            subscription = await gateway.create_call_subscription(
                webhook_id=webhook_id, call_center_id=None, call_states=list(CALL_STATES)
            )
            actions.append(f"created subscription {_id(subscription)}")
        elif subscription.get("enabled") is False or set(CALL_STATES) - set(
            subscription.get("call_states") or []
        ):
            await gateway.update_call_subscription(
                _id(subscription), webhook_id=webhook_id, call_states=list(CALL_STATES), enabled=True
            )
            actions.append(f"enabled subscription {_id(subscription)} with every call state CallTrax reads")
        if not gateway.simulated:
            async with deps.unit_of_work() as tx:
                company = await company_store.update_company(tx.connection, subscription_id=_id(subscription))
    if actions:
        log.info("company Dialpad subscription set up", extra={"actions": actions})
    return answer(deps, company, actions)
