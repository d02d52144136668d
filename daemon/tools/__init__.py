"""Tools for developers and demos: the embedded Tansu broker, the JSONL loader, ``svmon demo``."""
