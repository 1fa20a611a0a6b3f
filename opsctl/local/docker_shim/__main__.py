"""The docker shim as a program: ``python -I -S __main__.py --state STATE_DIR <docker args>``.

Run in isolated mode (no PYTHONPATH, no script directory on sys.path), so the project root is put on
sys.path here, and only the shim's standard-library-only modules are imported from it.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from opsctl.local.docker_shim.cli import main

    sys.exit(main())
