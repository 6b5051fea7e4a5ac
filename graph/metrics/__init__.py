"""Metrics and the pipeline board: types, queries, the metrics DataLoader and tenant settings."""
