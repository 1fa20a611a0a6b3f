"""The plane's SSM side: the Command documents, the agent stand-in of every SSM target, and document redeploys.

moto's ``send_command`` to a registered instance runs the document on its local host (``ssm_executor``); every
finished invocation is handed to ``on_event`` as the EventBridge event the deployed rule receives.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from freshtrack_ops.host_scripts.ssm_document import document_content, document_name, document_scripts
from opsctl.local import ssm_executor
from opsctl.local.host import LocalHost
from opsctl.local.names import SSM_DOCUMENT_PREFIX, instance_id_for

Client = Callable[[str], Any]
EventListener = Callable[[dict[str, Any]], None]


class SsmSide:
    def __init__(self, client: Client, on_event: EventListener) -> None:
        self._client = client
        self._on_event = on_event
        self._instances: list[str] = []
        #: the agents on each host (a host may be reached as several SSM targets: aliases)
        self._agents: dict[int, list[str]] = {}
        self._started = False
        self._lock = threading.RLock()

    def start(self, targets: Mapping[str, LocalHost]) -> None:
        """Documents and an agent per SSM target (target name -> the host it runs on); nothing without any."""
        for name, host in targets.items():
            self.add_instance(instance_id_for(name), host)

    def _ensure_started(self) -> None:
        if self._started:
            return
        ssm_executor.install()
        ssm = self._client("ssm")
        for script in document_scripts():
            ssm.create_document(
                Name=SSM_DOCUMENT_PREFIX + document_name(script),
                Content=json.dumps(document_content(script)),
                DocumentType="Command",
                DocumentFormat="JSON",
            )
        ssm_executor.add_listener(self._on_event)
        self._started = True

    def add_instance(self, instance_id: str, host: LocalHost) -> None:
        """An agent on ``host`` registered as ``instance_id`` (the documents exist from the first one on). It
        reboots the host for a step that exits 194, and is offline while the host is powered off
        (``LocalHost.on_power``, the same switch as the plane's ``set_ssm_online``)."""
        with self._lock:
            self._ensure_started()
            ssm_executor.register_instance(
                instance_id, host.env(), online=host.powered, workdir=host.root, reboot=host.reboot
            )
            self._instances.append(instance_id)
            agents = self._agents.setdefault(id(host), [])
            agents.append(instance_id)
            host.on_power = lambda powered: self._power_changed(agents, powered)

    def _power_changed(self, agents: list[str], powered: bool) -> None:
        with self._lock:
            registered = [instance_id for instance_id in agents if instance_id in self._instances]
        for instance_id in registered:
            with contextlib.suppress(KeyError):  # unregistered meanwhile (the plane stops)
                ssm_executor.set_online(instance_id, powered)

    def remove_instance(self, instance_id: str) -> None:
        """The agent of ``instance_id`` is gone (its instance terminated): no longer listed, commands fail."""
        with self._lock:
            if instance_id in self._instances:
                self._instances.remove(instance_id)
                ssm_executor.unregister_instance(instance_id)
            for agents in self._agents.values():
                if instance_id in agents:
                    agents.remove(instance_id)

    def stop(self) -> None:
        """Let running commands end (60 s at most; one waiting for a host that does not come back after a reboot
        ends at once), then stop listening and forget the instances."""
        ssm_executor.STATE.release_reboot_waits.set()
        try:
            ssm_executor.wait_idle(60)
        finally:
            ssm_executor.STATE.release_reboot_waits.clear()
        ssm_executor.remove_listener(self._on_event)
        with self._lock:
            for instance_id in self._instances:
                ssm_executor.unregister_instance(instance_id)
            self._instances.clear()
            self._agents.clear()
            self._started = False

    @staticmethod
    def wait_idle(timeout_s: float) -> bool:
        """Wait for every running command to end; True when none is left running."""
        return ssm_executor.wait_idle(timeout_s)

    @staticmethod
    def set_online(target: str, online: bool) -> None:
        ssm_executor.set_online(instance_id_for(target), online)

    @contextlib.contextmanager
    def document(self, script: str, content: Mapping[str, Any]) -> Iterator[None]:
        """Within the block, the Command document of ``script`` has ``content`` (a new document version made
        default, as an operator would deploy it); the original version is default again after."""
        ssm = self._client("ssm")
        name = SSM_DOCUMENT_PREFIX + document_name(script)
        original = ssm.describe_document(Name=name)["Document"]["DefaultVersion"]
        version = ssm.update_document(
            Name=name, Content=json.dumps(content), DocumentVersion="$LATEST", DocumentFormat="JSON"
        )["DocumentDescription"]["DocumentVersion"]
        ssm.update_document_default_version(Name=name, DocumentVersion=version)
        try:
            yield
        finally:
            ssm.update_document_default_version(Name=name, DocumentVersion=original)

    @contextlib.contextmanager
    def execution_timeout(self, script: str, seconds: int) -> Iterator[None]:
        """Within the block, the Command document of ``script`` times out after ``seconds``."""
        content = document_content(script)
        content["mainSteps"][-1]["inputs"]["timeoutSeconds"] = str(seconds)
        with self.document(script, content):
            yield
