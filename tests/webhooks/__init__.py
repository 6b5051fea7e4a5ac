"""Webhook door tests: lead and Dialpad endpoints over HTTP."""
