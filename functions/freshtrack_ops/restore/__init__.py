"""Restores: resolve a backup, verify it before use, load it into a database, compare, record."""
