"""Kubernetes manifests; `python -m deploy.k8s.build` regenerates `prometheusrule.yaml` from alerts/rules."""
