"""The schema: root types composed from each area's query, mutation and subscription classes."""

from __future__ import annotations

import strawberry
from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

from graph.errors import DomainErrorMasking
from graph.metrics.query import MetricsQuery
from graph.users.query import UsersQuery


@strawberry.type
class Query(UsersQuery, MetricsQuery):
    pass


schema = strawberry.Schema(
    query=Query,
    # Factories, so each operation gets fresh extension instances.
    extensions=[
        lambda: QueryDepthLimiter(max_depth=10),
        lambda: MaxAliasesLimiter(max_alias_count=30),
        lambda: MaxTokensLimiter(max_token_count=2000),
        DomainErrorMasking,
    ],
)
