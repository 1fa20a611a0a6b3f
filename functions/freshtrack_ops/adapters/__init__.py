"""Adapters: the real implementations of the ports (SSH, local subprocess, S3, DynamoDB)."""
