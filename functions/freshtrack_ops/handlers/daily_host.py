"""Host task handler of the daily-check workflow (``steps/daily.py``): every transport, through
``handlers.dispatch``."""

from __future__ import annotations

from freshtrack_ops.handlers.dispatch import host_handler
from freshtrack_ops.steps.daily import DAILY_COLLECT

collect = host_handler(DAILY_COLLECT)
