"""Calls: Dialpad call legs linked to leads and contacts."""
