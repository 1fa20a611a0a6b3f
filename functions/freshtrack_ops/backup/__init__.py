"""The backup workflow's domain logic: plan, preflight, stream, manifest, cleanup."""
