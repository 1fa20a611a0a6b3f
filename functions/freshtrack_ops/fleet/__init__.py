"""Rolling update of a fleet: a canary first, then the rest in waves, each host a nested update execution."""
