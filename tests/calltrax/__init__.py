"""Tests for calltrax/."""
