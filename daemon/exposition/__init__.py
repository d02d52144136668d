"""What svmon shows the outside: Prometheus counters and collectors, and the HTTP server.

The only package that imports prometheus_client. It reads the core (snapshots, tallies) and never
changes state.
"""
