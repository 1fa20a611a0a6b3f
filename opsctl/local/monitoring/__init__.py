"""The local plane's real monitoring stack (issue 12), started with ``LocalPlane(monitoring=True)``.

Per monitored host: a small backend process (``backend``; started and stopped by the host's docker shim with the
``backend`` container, ``backend_control``) and a real Caddy with its internal CA in front of it (``caddy``). For
all of them: a real Prometheus scraping every backend each second with the manual's default rules
(``prometheus``), a real Alertmanager routing to the plane's webhook bridge with bearer auth (``alertmanager``),
the bridge itself, an API Gateway HTTP API stand-in calling the AlertWebhook function in-process (``bridge``),
the webhook's secrets (``credentials``), and what ties them together (``stack``). ``process`` starts, finds and
stops the daemons (setsid, pid files, readiness).

Kept free of imports on purpose: the docker shim imports ``backend_control`` and ``process`` (standard library
only) from here, and pays for nothing else.
"""
