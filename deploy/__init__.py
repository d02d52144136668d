"""Deployment assets for svmon: dashboards, compose file, Kubernetes manifests and their generators."""
