"""Use cases, one per operation, shared by the GraphQL and webhook doors."""
