"""Host task handlers of the remediation workflow (``steps/remediation.py``): every transport, through
``handlers.dispatch`` like every host step. ``check`` serves both CheckBefore and Verify."""

from __future__ import annotations

from freshtrack_ops.handlers.dispatch import host_handler
from freshtrack_ops.steps.remediation import REMEDIATION_ACT, REMEDIATION_CHECK

act = host_handler(REMEDIATION_ACT)
check = host_handler(REMEDIATION_CHECK)
