"""Host task handlers of the maintenance workflows (``steps/maintenance.py``, ``steps/maintenance_os.py``): every
transport, through ``handlers.dispatch`` like every host step."""

from __future__ import annotations

from freshtrack_ops.handlers.dispatch import host_handler
from freshtrack_ops.steps.maintenance import DB_POOL, ROTATE_SECRETS
from freshtrack_ops.steps.maintenance_os import HOST_PROBE, OS_REBOOT, OS_UPGRADE

db_pool = host_handler(DB_POOL)
rotate_secrets = host_handler(ROTATE_SECRETS)
upgrade = host_handler(OS_UPGRADE)
reboot = host_handler(OS_REBOOT)
probe = host_handler(HOST_PROBE)
