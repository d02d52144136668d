"""Partition-scoped state: entities made of record slots, per-day aggregates, coverage marks, offsets."""
