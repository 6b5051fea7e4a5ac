"""Tests of the CSV export door."""
