"""One SSM Command document per host script, generated from the script files (``host_scripts.ssm_document``).

The documents are what the SSM transport sends (``adapters/ssm.py``); the SSH transport runs the very same
script text. Updating a script creates a new document version (``update_method="NewVersion"``) under the
same name, so the name stays stable for IAM policies and the adapter.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from freshtrack_ops.host_scripts.parameters import SCRIPT_PARAMETERS
from freshtrack_ops.host_scripts.ssm_document import document_content, document_name


class HostScriptDocuments(Construct):
    """``documents[script]`` is the ``CfnDocument`` of each host script; ``names[script]`` its name."""

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str = "") -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix
        self.documents: dict[str, ssm.CfnDocument] = {}
        self.names: dict[str, str] = {}
        for script in sorted(SCRIPT_PARAMETERS):
            name = prefix + document_name(script)
            self.names[script] = name
            self.documents[script] = ssm.CfnDocument(
                self,
                "".join(part.title() for part in script.removesuffix(".sh").split("_")),
                document_type="Command",
                document_format="JSON",
                content=document_content(script),
                name=name,
                update_method="NewVersion",
            )

    def document_arns(self) -> list[str]:
        """``arn:<partition>:ssm:<region>:<account>:document/<name>`` of every document (for ssm:SendCommand)."""
        stack = Stack.of(self)
        return [
            stack.format_arn(service="ssm", resource="document", resource_name=name)
            for name in sorted(self.names.values())
        ]
