"""Webhook door tests: the lead and Dialpad endpoints over real HTTP."""
