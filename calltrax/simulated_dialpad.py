"""A built-in simulated Dialpad, used when DIALPAD_API_KEY is unset: same steps, generated ids, no network."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from domain.provisioning import call_center_hours


def _new_id() -> str:
    # Dialpad ids are 16-digit int64s; simulated ones look the same so nothing downstream can tell.
    return str(secrets.randbelow(9 * 10**15) + 10**15)


@dataclass
class SimulatedDialpad:
    """DialpadGateway in memory: what a provisioning would create, kept until this process ends."""

    call_centers: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    operators: dict[str, set[str]] = field(default_factory=dict)

    @property
    def simulated(self) -> bool:
        return True

    async def create_call_center(
        self, *, name: str, office_id: str | None, hours: dict[str, list[str]]
    ) -> dict[str, Any]:
        call_center_id = _new_id()
        call_center: dict[str, Any] = {
            "id": call_center_id,
            "name": name,
            "office_id": office_id or _new_id(),
            "hours_on": True,
            "state": "active",
            **call_center_hours(hours),
        }
        self.call_centers[call_center_id] = call_center
        return dict(call_center)

    async def delete_call_center(self, call_center_id: str) -> None:
        self.call_centers.pop(call_center_id, None)

    async def create_webhook(self, *, hook_url: str, secret: str) -> dict[str, Any]:
        webhook_id = _new_id()
        webhook: dict[str, Any] = {
            "id": webhook_id,
            "hook_url": hook_url,
            "signature": {"type": "jwt", "algo": "HS256", "secret": secret},
        }
        self.webhooks[webhook_id] = webhook
        return dict(webhook)

    async def delete_webhook(self, webhook_id: str) -> None:
        self.webhooks.pop(webhook_id, None)

    async def create_call_subscription(
        self, *, webhook_id: str, call_center_id: str | None, call_states: list[str]
    ) -> dict[str, Any]:
        subscription_id = _new_id()
        subscription: dict[str, Any] = {
            "id": subscription_id,
            "call_states": list(call_states),
            "enabled": True,
            "webhook": self.webhooks.get(webhook_id, {"id": webhook_id}),
        }
        if call_center_id is not None:
            subscription.update(target_type="callcenter", target_id=call_center_id)
        self.subscriptions[subscription_id] = subscription
        return dict(subscription)

    async def delete_call_subscription(self, subscription_id: str) -> None:
        self.subscriptions.pop(subscription_id, None)

    async def list_webhooks(self) -> list[dict[str, Any]]:
        return [dict(webhook) for webhook in self.webhooks.values()]

    async def update_webhook(self, webhook_id: str, *, hook_url: str, secret: str) -> dict[str, Any]:
        webhook = self.webhooks.setdefault(webhook_id, {"id": webhook_id})
        webhook.update(hook_url=hook_url, signature={"type": "jwt", "algo": "HS256", "secret": secret})
        return dict(webhook)

    async def list_call_subscriptions(self) -> list[dict[str, Any]]:
        return [dict(subscription) for subscription in self.subscriptions.values()]

    async def update_call_subscription(
        self, subscription_id: str, *, webhook_id: str, call_states: list[str], enabled: bool
    ) -> dict[str, Any]:
        subscription = self.subscriptions.setdefault(subscription_id, {"id": subscription_id})
        subscription.update(
            call_states=list(call_states),
            enabled=enabled,
            webhook=self.webhooks.get(webhook_id, {"id": webhook_id}),
        )
        return dict(subscription)

    async def add_operator(self, call_center_id: str, user_id: str) -> None:
        self.operators.setdefault(call_center_id, set()).add(user_id)

    async def remove_operator(self, call_center_id: str, user_id: str) -> None:
        self.operators.get(call_center_id, set()).discard(user_id)

    async def update_call_center_hours(self, call_center_id: str, hours: dict[str, list[str]]) -> None:
        if call_center_id in self.call_centers:
            self.call_centers[call_center_id].update(call_center_hours(hours))
