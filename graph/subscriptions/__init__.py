"""Subscriptions: live lead, call and pipeline changes, resumable from a cursor."""
