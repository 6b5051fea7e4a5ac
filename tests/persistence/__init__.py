"""Tests for persistence/."""
