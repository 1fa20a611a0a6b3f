"""Images as the shim keeps them, told apart as docker tells them apart, and the compose files that pin them.

* **Image id and registry digest are different values**, as in docker: an image's id (``image_id``; what
  ``compose images`` shows as ``ID`` and ``image inspect`` as ``Id``) is the digest of its configuration, its
  registry digest (``image_digest``, in ``RepoDigests`` as ``<repository>@sha256:...``) the digest of the
  manifest it was pulled by. Only pulled images have a registry digest: an image built on the host has
  ``RepoDigests: []``. Code that pins an image must use ``RepoDigests``, never the id.
* **Every image the host ever had** is in ``state.json`` ``image_history`` (per service, by generation), as the
  superseded images stay in docker's image store (untagged) until a prune: a pin to an earlier image finds it.
* **The registry's next images**: ``state.json`` ``registry`` says per service whether the images it serves
  from now on work (``{"healthy": false}``: the next ``compose pull`` brings an image that breaks the app; the
  health endpoint answers 500 while a container runs it). ``LocalHost.publish_images`` sets it.
* **Compose files** (``compose_files``), as compose-go selects them: the ``-f``/``--file`` options, else
  ``COMPOSE_FILE`` (``:``-separated), else in the project directory the first existing of ``compose.yaml``,
  ``compose.yml``, ``docker-compose.yml``, ``docker-compose.yaml``, plus the first existing of
  ``compose.override.yml``, ``compose.override.yaml``, ``docker-compose.override.yml``,
  ``docker-compose.override.yaml`` (compose-go ``cli.DefaultFileNames`` / ``DefaultOverrideFileNames``; only
  that first override file is read). A service's ``image: <repository>@sha256:<digest>`` in any of them (the
  last one wins) pins it: ``up`` creates its container from that image, ``pull`` leaves it alone and
  ``config --images`` prints it. Read with a line scan (two-space indentation, as compose files are written):
  the shim is standard library only.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opsctl.local.docker_shim.state import ShimError, image_digest

DEFAULT_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
DEFAULT_OVERRIDE_NAMES = (
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
)
_SERVICE_LINE = re.compile(r"^  ([A-Za-z0-9_.-]+):\s*(#.*)?$")
_IMAGE_LINE = re.compile(r"^    image:\s*['\"]?([^'\"\s#]+)['\"]?\s*(#.*)?$")
_DIGEST_REF = re.compile(r"^(?P<repository>[^@]+)@(?P<digest>sha256:[0-9a-f]{64})$")


def image_id(service: str, generation: int) -> str:
    """The id of generation ``generation`` of ``service``'s image (the digest of its configuration)."""
    return "sha256:" + hashlib.sha256(f"image-config:{service}:{generation}".encode()).hexdigest()


def compose_files(app_dir: Path, global_files: Sequence[str], env: Mapping[str, str]) -> list[Path]:
    """The compose files a ``docker compose`` call reads (see the module docs)."""
    if global_files:
        return [Path(f) if Path(f).is_absolute() else Path.cwd() / f for f in global_files]
    configured = env.get("COMPOSE_FILE", "")
    if configured:
        separator = env.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
        return [Path(f) if Path(f).is_absolute() else Path.cwd() / f for f in configured.split(separator) if f]
    files: list[Path] = []
    for names in (DEFAULT_FILE_NAMES, DEFAULT_OVERRIDE_NAMES):
        found = next((app_dir / name for name in names if (app_dir / name).is_file()), None)
        if found is None and names is DEFAULT_FILE_NAMES:
            return []
        if found is not None:
            files.append(found)
    return files


def service_images(path: Path) -> dict[str, str]:
    """``services.<name>.image`` of one compose file (a line scan); a missing file is an error, as in compose."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ShimError(f"open {path}: no such file or directory") from exc
    images: dict[str, str] = {}
    in_services = False
    service: str | None = None
    for line in lines:
        if line and not line.startswith((" ", "#")):
            in_services = line.rstrip() == "services:"
            service = None
            continue
        if not in_services:
            continue
        match = _SERVICE_LINE.match(line)
        if match:
            service = match.group(1)
            continue
        image = _IMAGE_LINE.match(line)
        if service is not None and image:
            images[service] = image.group(1)
    return images


def pins(files: Sequence[Path]) -> dict[str, str]:
    """Service -> ``<repository>@sha256:<digest>`` for every service an image digest pins."""
    pinned: dict[str, str] = {}
    for path in files:
        for service, ref in service_images(path).items():
            if _DIGEST_REF.match(ref):
                pinned[service] = ref
            else:
                pinned.pop(service, None)
    return pinned


def history(data: dict[str, Any], service: str) -> list[dict[str, Any]]:
    """Every image ``service`` had on the host, oldest first (the current one included)."""
    entries: list[dict[str, Any]] = data.setdefault("image_history", {}).setdefault(service, [])
    current = data["images"].get(service)
    if current is not None and all(e.get("generation") != current.get("generation") for e in entries):
        entries.append(dict(current))
    return entries


def registry_digest(service: str, image: dict[str, Any]) -> str:
    """The image's registry digest, "" for an image built on the host (it was never pulled)."""
    return image_digest(service, int(image["generation"])) if image.get("source", "pull") == "pull" else ""


def pinned_image(data: dict[str, Any], service: str, ref: str) -> dict[str, Any]:
    """The image a pin names, from the host's images (what compose would pull by digest otherwise: the shim's
    registry serves no image the host never pulled)."""
    match = _DIGEST_REF.match(ref)
    if match is None:
        raise ShimError(f"invalid reference format: {ref}")
    for image in history(data, service):
        if registry_digest(service, image) == match.group("digest"):
            return dict(image)
    raise ShimError(f"Error response from daemon: manifest for {ref} not found: manifest unknown")


def broken(image: dict[str, Any] | None) -> bool:
    return isinstance(image, dict) and image.get("healthy") is False
