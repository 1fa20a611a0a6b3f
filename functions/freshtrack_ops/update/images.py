"""Image updates: record the images the containers run (app_images.sh) and, when the update fails, pin them
again by registry digest (app_images_pin.sh).

What a pin needs is a **registry digest** (``repository@sha256:...``, from ``docker image inspect``'s
``RepoDigests``), never the image id that ``docker compose images`` shows: the id is the digest of the image's
configuration, which no registry resolves. Services whose image the deployment builds from the app's code
(``update.built_services``) are never pinned (a digest is no build tag: compose would refuse to tag the build)
and need not be: the rollback rebuilds them from the unchanged code. A pulled service whose image has no
registry digest (loaded by hand, say) cannot be pinned and is named in the notification.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from freshtrack_ops.config import Target
from freshtrack_ops.errors import ComposeOverrideInUse, HostCommandFailed
from freshtrack_ops.host_command import HostCommand, parse_key_values, tail
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.update.models import ImagesRecord, PinImagesEvent, PinResult, RunningImage

_TIMEOUT_S = 300.0
_SECTION = re.compile(r"^### (compose ps|compose images|image [0-9a-f]{12,64})$")
_DIGEST_REF = re.compile(r"^(?P<repository>[a-z0-9][a-z0-9._/:-]*)@sha256:[0-9a-f]{64}$")


class _PsRow(BaseModel):
    model_config = ConfigDict(extra="ignore")
    Name: str
    Service: str
    Image: str = ""


class _ImageRow(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ContainerName: str
    ID: str


def record_command(target: Target) -> HostCommand:
    return HostCommand("app_images.sh", {"APP_DIR": target.app_dir, "DOCKER_BIN": target.docker_bin}, _TIMEOUT_S)


def read_record(target: Target, result: CommandResult) -> ImagesRecord:
    """The running images by service; ComposeOverrideInUse when someone else's override file is in the way."""
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: recording the running images failed: {tail(result.stderr)}")
    header, sections = _sections(result.stdout)
    values = parse_key_values(header)
    override, owner = values.get("override", ""), values.get("override_owner", "")
    if owner == "foreign":
        raise ComposeOverrideInUse(
            f"{target.id}: {override} in {target.app_dir} was not written by FreshTrack Ops: a failed image update "
            "could not pin the images that run now without overwriting it (move what it sets into the compose "
            "file, or remove it), so the image update does not start"
        )
    try:
        ps = [_PsRow.model_validate(row) for row in _json_rows(sections.get("compose ps", ""))]
        rows = [_ImageRow.model_validate(row) for row in _json_rows(sections.get("compose images", ""))]
        digests = {name.removeprefix("image "): json.loads(text or "null") or [] for name, text in sections.items()
                   if name.startswith("image ")}  # fmt: skip
        image_of = {row.ContainerName: row.ID for row in rows}
        images = tuple(
            RunningImage(
                service=row.Service,
                container=row.Name,
                configured=row.Image,
                image_id=image_of[row.Name],
                repo_digests=tuple(_digests_of(image_of[row.Name], digests)),
            )
            for row in ps
            if row.Name in image_of
        )
    except (ValueError, KeyError, ValidationError) as exc:
        raise HostCommandFailed(f"{target.id}: unexpected output of app_images.sh ({exc})") from exc
    if not images:
        raise HostCommandFailed(f"{target.id}: docker compose lists no containers: nothing to record")
    return ImagesRecord(images=images, pinned_by=override if owner == "freshtrack-ops" else "")


def _sections(stdout: str) -> tuple[str, dict[str, str]]:
    """The key=value header and the ``### name`` sections of app_images.sh's output."""
    header: list[str] = []
    sections: dict[str, list[str]] = {}
    current: list[str] = header
    for line in stdout.splitlines():
        match = _SECTION.match(line)
        if match:
            current = sections.setdefault(match.group(1), [])
        else:
            current.append(line)
    return "\n".join(header), {name: "\n".join(lines).strip() for name, lines in sections.items()}


def _json_rows(text: str) -> list[Any]:
    """docker's JSON output: one array (compose images; ps before v2.21) or one object per line (ps since)."""
    if not text:
        return []
    if text.startswith("["):
        rows = json.loads(text)
        return rows if isinstance(rows, list) else []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _digests_of(image_id: str, digests: dict[str, Any]) -> list[str]:
    """The registry digests inspected for ``image_id`` (``compose images -q`` prints ids without sha256:)."""
    hex_id = image_id.removeprefix("sha256:")
    for short, found in digests.items():
        if hex_id.startswith(short) and isinstance(found, list):
            return [str(ref) for ref in found if _DIGEST_REF.match(str(ref))]
    return []


def pins_for(event: PinImagesEvent, target: Target) -> PinResult:
    """What to pin: each recorded service that is not built, by the registry digest of its configured
    repository (else its first one); the rest named."""
    pinned: dict[str, str] = {}
    rebuilt: list[str] = []
    missing: list[str] = []
    for image in event.recorded.images:
        if image.service in target.update.built_services:
            rebuilt.append(image.service)
            continue
        repository = _repository(image.configured)
        refs = sorted(image.repo_digests, key=lambda ref: _repository(ref.partition("@")[0]) != repository)
        if refs:
            pinned[image.service] = refs[0]
        else:
            missing.append(image.service)
    return PinResult(pinned=pinned, rebuilt=tuple(rebuilt), not_pinned=tuple(missing), pin_file="", text="")


def _repository(reference: str) -> str:
    """``registry:5000/team/app:1.2`` -> ``registry:5000/team/app`` (a tag follows the last ``/``)."""
    name, slash, last = reference.rpartition("/")
    return f"{name}{slash}{last.partition(':')[0]}" if ":" in last else reference


def pin_command(event: PinImagesEvent, target: Target) -> HostCommand:
    plan = pins_for(event, target)
    env = {
        "APP_DIR": target.app_dir,
        "DOCKER_BIN": target.docker_bin,
        "UPDATE_ID": event.update_id,
        "IMAGE_PINS": " ".join(f"{service}={ref}" for service, ref in plan.pinned.items()),
    }
    return HostCommand("app_images_pin.sh", env, _TIMEOUT_S)


def read_pin(event: PinImagesEvent, target: Target, result: CommandResult) -> PinResult:
    if result.exit_code == 65:
        raise ComposeOverrideInUse(f"{target.id}: {tail(result.stderr)}")
    if result.exit_code != 0:
        raise HostCommandFailed(f"{target.id}: pinning the recorded images failed: {tail(result.stderr)}")
    plan = pins_for(event, target)
    pin_file = parse_key_values(result.stdout).get("pin_file", "")
    parts = []
    if plan.pinned:
        parts.append(f"the images recorded before it were pinned again in {pin_file} ({', '.join(plan.pinned)})")
    if plan.rebuilt:
        parts.append(f"{', '.join(plan.rebuilt)} were rebuilt from the unchanged code")
    if plan.not_pinned:
        parts.append(f"{', '.join(plan.not_pinned)} could NOT be pinned (their image has no registry digest)")
    text = "; ".join(parts) or "nothing was pinned"
    return plan.model_copy(update={"pin_file": pin_file, "text": text})
