"""`python -m opsctl` — see opsctl.cli."""

from opsctl.cli import main

raise SystemExit(main())
