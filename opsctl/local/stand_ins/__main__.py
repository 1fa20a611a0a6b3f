"""The stand-ins as one program: ``python -I -S __main__.py <tool> --state STATE_DIR <args>``.

Run in isolated mode (no PYTHONPATH, no script directory on sys.path), so the project root is put on sys.path
here, and only the stand-ins' standard-library-only modules are imported from it.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
    from opsctl.local.stand_ins.cli import main

    sys.exit(main(sys.argv[1:]))
