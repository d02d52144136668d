"""The pure core: raw records -> validated records -> entity state -> indicators.

Nothing here does I/O, reads a clock, or imports Kafka or prometheus_client: every function takes
what it needs (the registry, the deadline rules, "now") as arguments, so the core is tested without
brokers, threads or time. docs/architecture.md follows one record through it.
"""
