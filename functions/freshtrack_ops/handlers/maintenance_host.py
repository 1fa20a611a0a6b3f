"""Host task handlers of the maintenance workflows (``steps/maintenance.py``, ``steps/maintenance_os.py``): every
transport, through ``handlers.host`` like every host step."""

from __future__ import annotations

from freshtrack_ops.handlers.host import host_handler
from freshtrack_ops.steps.registry import DB_POOL, HOST_PROBE, OS_REBOOT, OS_UPGRADE, ROTATE_SECRETS

db_pool = host_handler(DB_POOL)
rotate_secrets = host_handler(ROTATE_SECRETS)
upgrade = host_handler(OS_UPGRADE)
reboot = host_handler(OS_REBOOT)
probe = host_handler(HOST_PROBE)
