"""Tests of notifications: targets, the delivery queue, webhooks and email."""
