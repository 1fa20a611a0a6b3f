"""Host task handlers of the os-update workflow (``steps/maintenance_os.py``): every transport, through
``handlers.host`` like every host step."""

from __future__ import annotations

from freshtrack_ops.handlers.host import host_handler
from freshtrack_ops.steps.registry import HOST_PROBE, OS_REBOOT, OS_UPGRADE

upgrade = host_handler(OS_UPGRADE)
reboot = host_handler(OS_REBOOT)
probe = host_handler(HOST_PROBE)
