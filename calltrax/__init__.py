"""Composition: settings, the app factory, the CLI and the real implementations of the ports."""
