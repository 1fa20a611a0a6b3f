"""Host task handlers of the disaster-recovery workflow that move the app's configuration (``steps/dr.py``):
every transport, through ``handlers.dispatch`` like every host step."""

from __future__ import annotations

from freshtrack_ops.handlers.dispatch import host_handler
from freshtrack_ops.steps.dr import DR_BOOTSTRAP, DR_CAPTURE_CONFIG

capture_config = host_handler(DR_CAPTURE_CONFIG)
bootstrap = host_handler(DR_BOOTSTRAP)
