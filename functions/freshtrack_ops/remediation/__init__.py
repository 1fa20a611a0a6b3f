"""Alert-driven remediation: rules from the configuration, the guard (rate limit, circuit breaker), the actions."""
