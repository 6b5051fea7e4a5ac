"""The GraphQL door: Strawberry types, queries, mutations and subscriptions over the use cases."""
