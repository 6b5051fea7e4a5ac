"""Webhook doors over real HTTP: the lead webhook."""
