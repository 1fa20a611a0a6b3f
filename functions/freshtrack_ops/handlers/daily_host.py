"""Host task handler of the daily-check workflow (``steps/daily.py``): every transport, through ``handlers.host``."""

from __future__ import annotations

from freshtrack_ops.handlers.host import host_handler
from freshtrack_ops.steps.registry import DAILY_COLLECT

collect = host_handler(DAILY_COLLECT)
