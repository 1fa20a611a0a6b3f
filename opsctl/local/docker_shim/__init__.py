"""A ``docker`` CLI stand-in for the local FreshTrack host (tests and the local plane only; never deployed).

The program is ``__main__.py`` (``PROGRAM``), run as ``python -I -S PROGRAM --state STATE_DIR <docker args>``
by the generated ``<root>/bin/docker`` wrapper. It implements the subset of the docker CLI that the
operations manual uses, over the local PostgreSQL cluster and JSON files in STATE_DIR:

- ``host.json``     written once by LocalHost: project, app dir, services, the cluster (bindir, datadir, ...)
- ``state.json``    services (state, since, exit code, the image their container runs), the local images
                    (generation, digest, the release a build was made from) and records of pulls, builds,
                    prunes, downs (see ``state``)
- ``faults.json``   fault injection (optional), see ``faults``
- ``commands.log``  every invocation: one JSON object per line ``{"ts", "pid", "argv"}``
- ``logs/<service>.log``  what ``compose logs`` prints

Modules: ``state`` (those files, services starting and stopping), ``faults`` (fault injection), ``cli`` (the
docker command line and its dispatch), ``compose`` (the compose subset), ``engine`` (``system df|prune``,
``stats``). Standard library only: the program starts for every docker call, including the benchmarked
``compose exec -T postgres pg_dump`` path, which ends in ``os.execvpe`` of the real pg_dump.
"""

from __future__ import annotations

from pathlib import Path

#: the program the host's ``docker`` wrapper runs
PROGRAM = Path(__file__).resolve().with_name("__main__.py")
