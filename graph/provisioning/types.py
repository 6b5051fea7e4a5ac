"""GraphQL types for provisioning: the input, the webhook URLs and the result."""

from __future__ import annotations

import strawberry

from graph.enums import DialpadMode
from graph.tenants.types import Tenant
from services.provision_client import ProvisionedClient

_HOURS = 'Open/close times "HH:MM" in the tenant\'s timezone, as Dialpad takes them: ["09:00", "17:00"]; ["09:00", "12:00", "13:00", "17:00"] is two ranges; empty or absent = closed.'


@strawberry.input(
    description="Weekly business hours; when given, a day left out is closed (default Mon-Fri 09:00-17:00)."
)
class BusinessHoursInput:
    monday: list[str] | None = strawberry.field(default=None, description=_HOURS)
    tuesday: list[str] | None = strawberry.field(default=None, description=_HOURS)
    wednesday: list[str] | None = strawberry.field(default=None, description=_HOURS)
    thursday: list[str] | None = strawberry.field(default=None, description=_HOURS)
    friday: list[str] | None = strawberry.field(default=None, description=_HOURS)
    saturday: list[str] | None = strawberry.field(default=None, description=_HOURS)
    sunday: list[str] | None = strawberry.field(default=None, description=_HOURS)

    def as_dict(self) -> dict[str, list[str] | None]:
        return {
            "monday": self.monday,
            "tuesday": self.tuesday,
            "wednesday": self.wednesday,
            "thursday": self.thursday,
            "friday": self.friday,
            "saturday": self.saturday,
            "sunday": self.sunday,
        }


@strawberry.input
class ProvisionClientInput:
    name: str = strawberry.field(
        description="The client's name, 1-100 characters; also the call center's name."
    )
    timezone: str = strawberry.field(description="IANA timezone, e.g. America/New_York.")
    slug: str | None = strawberry.field(
        default=None, description='[a-z0-9-]{2,63}; default from the name ("Acme Solar" -> acme-solar).'
    )
    business_hours: BusinessHoursInput | None = None
    office_id: strawberry.ID | None = strawberry.field(
        default=None, description="Dialpad office for the call center; default DIALPAD_OFFICE_ID."
    )
    operators: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Agents (user ids) to assign; those with a dialpadUserId become operators of the call center.",
    )


@strawberry.type(description="Where the client's sources post.")
class TenantWebhooks:
    dialpad_events: str = strawberry.field(description="Dialpad call events (signed JWTs) for this tenant.")
    inbound_leads: str | None = strawberry.field(
        description="The active lead webhook (its token is the secret)."
    )


@strawberry.type
class ProvisionClientResult:
    tenant: Tenant
    webhooks: TenantWebhooks
    dialpad_mode: DialpadMode
    notes: list[str] = strawberry.field(
        description="What to know, e.g. business hours converted into the call center's timezone that will be "
        "off part of the year (Dialpad holds one set of hours, in the office's timezone)."
    )

    @classmethod
    def from_service(cls, result: ProvisionedClient) -> ProvisionClientResult:
        return cls(
            tenant=Tenant.from_row(result.tenant),
            webhooks=TenantWebhooks(
                dialpad_events=result.dialpad_events_url, inbound_leads=result.inbound_leads_url
            ),
            dialpad_mode=result.dialpad_mode,
            notes=list(result.notes),
        )
