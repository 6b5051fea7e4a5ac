"""Leads, their contacts, notes and timelines."""
