"""Tests for graph/."""
