"""Grafana dashboards as code; `python -m deploy.grafana.build` regenerates `dashboards/*.json`."""
