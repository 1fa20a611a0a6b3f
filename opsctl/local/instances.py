"""EC2 instances of the local plane: ``RunInstances`` from one of the plane's launch templates boots a new local host.

moto keeps the EC2 bookkeeping (reservation, instance id, tags, states: ``RunInstances`` answers ``pending``,
``DescribeInstances`` then says ``running``); the patches here add what the instance *is*:

* ``RunInstances`` with a launch template the plane created (``provisioning.create_replacement_templates``)
  starts, before it answers, a blank ``LocalHost`` per instance under ``<plane root>/instances/<instance id>``
  (``LocalHost(blank=True)``: its own PostgreSQL cluster with only the compose database's role and empty
  database, an empty app directory, only the postgres container running). What it runs follows the launch
  template, as on EC2:

  - a ``KeyName`` (the template's or the request's): sshd on 127.0.0.1 with a NEW ed25519 host key,
    authorizing the key pair's public key (cloud-init installs it for the login user), and cloud-init's
    ``BEGIN SSH HOST KEY KEYS`` block in the instance's console output;
  - an ``IamInstanceProfile``: the SSM agent stand-in registered for the instance id (online in
    ``DescribeInstanceInformation``, Run Command runs on the host), as the agent registers once the instance
    has a role with the Systems Manager core policy.

  Both settings give both. Instances from any other template, or none, keep moto's behaviour (no host).
* ``GetConsoleOutput`` of such an instance answers its console (base64, as EC2 does); other instances keep
  moto's sample text.
* ``TerminateInstances`` removes the local host before moto marks the instance terminated: sshd and its
  sessions stopped, the agent registration gone, the cluster stopped, the host's directories removed.

Not modelled: boot time (the host is up when RunInstances returns; EC2 reports ``pending`` for a while and
sshd answers later), cloud-init's other work and user data, real AMIs (the template's image id is a label),
network addresses (moto invents the instance's private and public IPs; the host is reached on 127.0.0.1 at
its own ports: ``LocalPlane.host(<instance id>)``).

Installed once per process; the plane sets ``STATE.launcher`` while it runs.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from freshtrack_ops.dr.host_key import render_host_keys
from opsctl.local import iam
from opsctl.local.host import LocalHost


class Launcher(Protocol):
    def launch(self, instance_id: str, template_name: str, key_name: str | None, profile: bool) -> str | None:
        """Boot the local host of a new instance; its console output, or None when ``template_name`` is not
        one of the plane's."""

    def terminate(self, instance_id: str) -> None:
        """Remove the local host of an instance (nothing when it has none)."""


@dataclass
class _State:
    lock: threading.RLock = field(default_factory=threading.RLock)
    installed: bool = False
    launcher: Launcher | None = None
    #: instance id -> console text (what GetConsoleOutput returns, base64-encoded)
    console: dict[str, str] = field(default_factory=dict)


STATE = _State()


def install() -> None:
    """Patch moto's EC2 backend and GetConsoleOutput (idempotent)."""
    with STATE.lock:
        if STATE.installed:
            return
        from moto.ec2.models.instances import InstanceBackend
        from moto.ec2.responses.general import General

        InstanceBackend.run_instances = _patched_run_instances(InstanceBackend.run_instances)  # type: ignore[method-assign]
        InstanceBackend.terminate_instances = _patched_terminate(InstanceBackend.terminate_instances)  # type: ignore[method-assign]
        General.get_console_output = _patched_console_output(General.get_console_output)  # type: ignore[method-assign]
        STATE.installed = True


def _template_settings(backend: Any, kwargs: Mapping[str, Any]) -> tuple[str, str | None, bool] | None:
    """(template name, key name, has an instance profile) of a launch from a template; None without one."""
    if not kwargs.get("launch_template"):
        return None
    template = backend._get_template_from_args(kwargs["launch_template"])  # the version launched
    data: dict[str, Any] = template.data
    key_name = kwargs.get("key_name") or data.get("KeyName")
    profile = bool(
        kwargs.get("iam_instance_profile_name")
        or kwargs.get("iam_instance_profile_arn")
        or data.get("IamInstanceProfile")
    )
    return str(template.template.name), key_name, profile


def _patched_run_instances(original: Callable[..., Any]) -> Callable[..., Any]:
    def run_instances(
        self: Any, image_id: str, count: int, user_data: Any, security_group_names: Any, **kwargs: Any
    ) -> Any:
        settings = _template_settings(self, kwargs)
        reservation = original(self, image_id, count, user_data, security_group_names, **kwargs)
        launcher = STATE.launcher
        if settings is None or launcher is None:
            return reservation
        booted: list[str] = []
        try:
            for instance in reservation.instances:
                console = launcher.launch(instance.id, *settings)
                if console is None:
                    break
                booted.append(instance.id)
                with STATE.lock:
                    STATE.console[instance.id] = console
        except BaseException:
            # the launch failed as a whole (as an InsufficientInstanceCapacity would): nothing is left running
            for instance_id in booted:
                launcher.terminate(instance_id)
            for instance in reservation.instances:
                instance.terminate()
            raise
        return reservation

    return run_instances


def _patched_terminate(original: Callable[..., Any]) -> Callable[..., Any]:
    def terminate_instances(self: Any, instance_ids: list[str]) -> Any:
        launcher = STATE.launcher
        if launcher is not None:
            for instance_id in instance_ids or ():
                launcher.terminate(instance_id)
                with STATE.lock:
                    STATE.console.pop(instance_id, None)
        return original(self, instance_ids)

    return terminate_instances


def _patched_console_output(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_console_output(self: Any) -> Any:
        from moto.core.responses import ActionResult
        from moto.core.types import Base64EncodedString
        from moto.core.utils import utcnow

        instance_id = self._get_param("InstanceId")
        with STATE.lock:
            console = STATE.console.get(instance_id)
        if console is None:
            return original(self)
        instance = self.ec2_backend.get_instance(instance_id)  # unknown id: moto's InvalidInstanceID.NotFound
        return ActionResult(
            {"InstanceId": instance.id, "Timestamp": utcnow(), "Output": Base64EncodedString.from_raw_string(console)}
        )

    return get_console_output


def console_text(instance_id: str, host_keys: tuple[str, ...]) -> str:
    """What the serial console of a freshly booted instance shows: a few boot lines, and cloud-init's host key
    block when sshd runs (its keys' comment is ``root@<hostname>``, as the ``.pub`` files have it)."""
    hostname = "ip-" + instance_id.removeprefix("i-")[:8]
    lines = [
        f"[    0.000000] Linux version 6.1.0-local (opsctl local plane) #1 SMP ({instance_id})",
        f"Cloud-init v. 24.1 running 'init' ({hostname}). Up 4.20 seconds.",
    ]
    text = "\n".join(lines) + "\n"
    if host_keys:
        text += render_host_keys(host_keys, f"root@{hostname}")
    return text + f"Cloud-init v. 24.1 finished ({hostname}). Datasource DataSourceEc2Local. Up 9.80 seconds\n"


class ProvisionedHosts:
    """The plane's launcher: the local hosts of the instances launched from its templates."""

    def __init__(
        self,
        root: Path,
        *,
        templates: Callable[[], set[str]],
        key_pairs: Callable[[], Mapping[str, str]],
        use_sshd: bool,
        register_agent: Callable[[str, LocalHost], None],
        unregister_agent: Callable[[str], None],
    ) -> None:
        """``templates``: the plane's launch template names; ``key_pairs``: key name -> public key."""
        self._root = root
        self._templates = templates
        self._key_pairs = key_pairs
        self._use_sshd = use_sshd
        self._register_agent = register_agent
        self._unregister_agent = unregister_agent
        self._lock = threading.RLock()
        self._hosts: dict[str, LocalHost] = {}

    def launch(self, instance_id: str, template_name: str, key_name: str | None, profile: bool) -> str | None:
        if template_name not in self._templates():
            return None
        public_key = self._key_pairs().get(key_name) if key_name else None
        if key_name and public_key is None:
            raise LookupError(f"KeyName: not a key pair of the local plane (got {key_name!r})")
        host = LocalHost(
            self._root / instance_id,
            instance_id,
            use_sshd=self._use_sshd and public_key is not None,
            blank=True,
            authorized_public_key=public_key,
        ).start()
        with self._lock:
            self._hosts[instance_id] = host
        if profile:
            with iam.plane_calls():  # the agent registering is the instance's doing, not the caller's
                self._register_agent(instance_id, host)
        keys = (host.ssh_host_public_key,) if host.ssh_host_public_key else ()
        return console_text(instance_id, keys)

    def terminate(self, instance_id: str) -> None:
        with self._lock:
            host = self._hosts.pop(instance_id, None)
        if host is None:
            return
        self._unregister_agent(instance_id)
        host.stop()
        shutil.rmtree(host.root, ignore_errors=True)

    def hosts(self) -> dict[str, LocalHost]:
        with self._lock:
            return dict(self._hosts)

    def stop(self) -> None:
        for instance_id in list(self.hosts()):
            with contextlib.suppress(Exception):
                self.terminate(instance_id)
