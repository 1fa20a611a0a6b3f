"""The plane's SSM side: the Command documents, the agent stand-in of every SSM target, and document redeploys.

moto's ``send_command`` to a registered instance runs the document on its local host (``ssm_executor``); every
finished invocation is handed to ``on_event`` as the EventBridge event the deployed rule receives.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from freshtrack_ops.host_scripts.parameters import SCRIPT_PARAMETERS
from freshtrack_ops.host_scripts.ssm_document import document_content, document_name
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

    def start(self, targets: Mapping[str, LocalHost]) -> None:
        """Documents and an agent per SSM target (target name -> the host it runs on); nothing without any."""
        if not targets:
            return
        ssm_executor.install()
        ssm = self._client("ssm")
        for script in SCRIPT_PARAMETERS:
            ssm.create_document(
                Name=SSM_DOCUMENT_PREFIX + document_name(script),
                Content=json.dumps(document_content(script)),
                DocumentType="Command",
                DocumentFormat="JSON",
            )
        for name, host in targets.items():
            instance_id = instance_id_for(name)
            ssm_executor.register_instance(instance_id, host.env(), workdir=host.root)
            self._instances.append(instance_id)
        ssm_executor.add_listener(self._on_event)

    def stop(self) -> None:
        """Let running commands end (60 s at most), then stop listening and forget the instances."""
        ssm_executor.wait_idle(60)
        ssm_executor.remove_listener(self._on_event)
        for instance_id in self._instances:
            ssm_executor.unregister_instance(instance_id)
        self._instances.clear()

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
        content["mainSteps"][0]["inputs"]["timeoutSeconds"] = str(seconds)
        with self.document(script, content):
            yield
