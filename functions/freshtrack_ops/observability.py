"""Powertools objects shared by handlers and steps (one Logger/Tracer/Metrics per process)."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord

from freshtrack_ops.redact import redact

SERVICE = "freshtrack-ops"
#: what the Tracer patches in a deployed (traced) function: botocore, every AWS call (boto3's included). Named rather
#: than Powertools' default, the X-Ray SDK's ``patch_all``, which imports every supported library that is installed
#: to patch it: sqlite3 in the asset, requests and psycopg wherever they are installed (the dev virtualenv), none of
#: which the functions use. ``patch_all`` leaves http.client alone (the SDK's NO_DOUBLE_PATCH), and so does this.
#: Patched by ``trace_aws_calls`` (runtime.py, as it is imported), not when the Tracer is built.
PATCHED_MODULES = ("botocore",)


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON log lines, with every presigned-looking URL redacted (``freshtrack_ops.redact``):
    a log line's extra fields or an exception's message may quote external text, and CloudWatch Logs keeps
    whatever we print."""

    def serialize(self, log: LogRecord) -> str:
        return redact(super().serialize(log))


logger = Logger(service=SERVICE, logger_formatter=RedactingFormatter())
tracer = Tracer(service=SERVICE, auto_patch=False)
metrics = Metrics(namespace="FreshTrackOps", service=SERVICE)


def trace_aws_calls() -> None:
    """Patch botocore so every AWS call is a subsegment of the trace (a no-op where tracing is disabled; once).

    runtime.py calls this as it is imported: every client the functions use is created there (or by Powertools'
    parameters, in the same handlers), so a handler module that makes AWS calls has botocore patched while it is
    imported, as with the Tracer's own auto_patch, and one that makes none (ExplainError) never loads botocore's
    client machinery just to patch it."""
    tracer.patch(PATCHED_MODULES)
