"""The alert webhook: Alertmanager and Grafana payloads in, authenticated, deduplicated, remediations started."""
