"""The runtime shell around the core: the Kafka source, the DLQ producer, the engine that applies
batches and checkpoints them, readiness, and the daemon's lifecycle (``svmon run``).

This package and ``daemon.tools`` are the only places that import Kafka.
"""
