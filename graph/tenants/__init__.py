"""Tenants: the client accounts, their settings and lead webhooks."""
