"""Metrics, business hours and the pipeline board."""
