"""Tests of SLA alerts: the sweep, across processes and restarts."""
