"""The schema: root types composed from each area's query, mutation and subscription classes."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from graph.calls.query import CallsQuery
from graph.errors import DomainErrorMasking
from graph.leads.mutations import LeadsMutation
from graph.leads.query import LeadsQuery
from graph.tenants.mutations import TenantsMutation
from graph.tenants.query import TenantsQuery
from graph.users.mutations import UsersMutation
from graph.users.query import UsersQuery


@strawberry.type
class Query(UsersQuery, TenantsQuery, LeadsQuery, CallsQuery):
    pass


@strawberry.type
class Mutation(UsersMutation, TenantsMutation, LeadsMutation):
    pass


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    # Factories, so each operation gets fresh extension instances.
    extensions=[
        lambda: QueryDepthLimiter(max_depth=10),
        lambda: MaxAliasesLimiter(max_alias_count=30),
        lambda: MaxTokensLimiter(max_token_count=2000),
        DomainErrorMasking,
    ],
)
