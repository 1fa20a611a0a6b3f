"""Powertools objects shared by the handlers (one Logger/Tracer/Metrics per process)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "freshtrack-ops"
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace="FreshTrackOps", service=SERVICE)
