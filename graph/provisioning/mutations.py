"""Provisioning mutations: thin doors onto the provision, retry and deprovision use cases."""

from __future__ import annotations

import strawberry

from graph.context import Info
from graph.ids import parse_uuid
from graph.provisioning.types import ProvisionClientInput, ProvisionClientResult
from graph.tenants.types import Tenant
from services.deprovision_client import deprovision_client
from services.provision_client import provision_client
from services.retry_provisioning import retry_provisioning


@strawberry.type
class ProvisioningMutation:
    @strawberry.mutation(
        description="Admins: create a client tenant with its Dialpad call center (and operators); the company "
        "webhook and call subscription are made the first time. Nothing is left half-made (DIALPAD_ERROR "
        "carries Dialpad's status)."
    )
    async def provision_client(self, info: Info, input: ProvisionClientInput) -> ProvisionClientResult:
        result = await provision_client(
            info.context.deps,
            actor=info.context.require_principal(),
            name=input.name,
            timezone=input.timezone,
            slug=input.slug,
            business_hours=input.business_hours.as_dict() if input.business_hours else None,
            office_id=str(input.office_id) if input.office_id is not None else None,
            operators=[str(user_id) for user_id in input.operators] if input.operators else None,
        )
        return ProvisionClientResult.from_service(result)

    @strawberry.mutation(description="Admins: resume a failed provisioning from its stored progress.")
    async def retry_provisioning(self, info: Info, tenant_id: strawberry.ID) -> ProvisionClientResult:
        result = await retry_provisioning(
            info.context.deps,
            actor=info.context.require_principal(),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
        )
        return ProvisionClientResult.from_service(result)

    @strawberry.mutation(
        description="Admins: delete the client's Dialpad resources and suspend it, keeping its data."
    )
    async def deprovision_client(self, info: Info, tenant_id: strawberry.ID) -> Tenant:
        tenant = await deprovision_client(
            info.context.deps,
            actor=info.context.require_principal(),
            tenant_id=parse_uuid(tenant_id, field="tenantId"),
        )
        return Tenant.from_row(tenant)
