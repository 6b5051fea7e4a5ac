"""Benchmarks: load generators and measurements that print figures."""
