"""Host task handler of the service workflow (``steps/service.py``): every transport, through ``handlers.dispatch``
like every host step."""

from __future__ import annotations

from freshtrack_ops.handlers.dispatch import host_handler
from freshtrack_ops.steps.service import SERVICE_ACT

act = host_handler(SERVICE_ACT)
