"""``python -m opsctl.docs_gen``: rewrite every generated document; ``--check``: list the stale ones, exit 1."""

from __future__ import annotations

import argparse
import sys

from opsctl.docs_gen import DOCS, MissingBlock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m opsctl.docs_gen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 listing the stale documents")
    args = parser.parse_args(argv)
    stale: list[str] = []
    for doc in DOCS:
        try:
            if args.check:
                if doc.is_stale():
                    stale.append(doc.name)
            elif doc.write():
                print(f"wrote {doc.name}")
        except MissingBlock as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if stale:
        print("stale (run make docs):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
