"""One SSM Command document per host script (but the SSH-only ones, whose output holds secrets), generated from
the script files (``host_scripts.ssm_document``).

The documents are what the SSM transport sends (``adapters/ssm.py``); the SSH transport runs the very same
script text. Updating a script creates a new document version (``update_method="NewVersion"``) under the
same name, so the name stays stable for IAM policies and the adapter.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Fn, Stack
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from freshtrack_ops.host_scripts.ssm_document import NAME_PREFIX, document_content, document_name, document_scripts


class HostScriptDocuments(Construct):
    """``documents[script]`` is the ``CfnDocument`` of each host script; ``names[script]`` its name."""

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str = "") -> None:
        super().__init__(scope, construct_id)
        self.prefix = prefix
        self.documents: dict[str, ssm.CfnDocument] = {}
        self.names: dict[str, str] = {}
        for script in document_scripts():
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

    @property
    def name_prefix(self) -> str:
        """What every document name starts with (``<prefix>FreshTrackOps-``): the completion rule matches it."""
        return self.prefix + NAME_PREFIX

    def document_arns(self) -> list[str]:
        """``arn:<partition>:ssm:<region>:<account>:document/<name>`` of every document (for ssm:SendCommand).

        As ``Fn::Sub`` strings, not the ``Fn::Join`` lists ``format_arn`` writes: every role with ``ssm-commands``
        names all of them (over 400 ARNs in the example's control-plane template), and the Join form alone took
        ~150 KB of a template CloudFormation caps at 1 MB (cfn-lint E1002); the Sub form takes less than half.
        """
        return [
            Fn.sub(f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:document/{name}")
            for name in sorted(self.names.values())
        ]


class HostDocumentsStack(Stack):
    """The host script documents in a stack of their own: ~170 KB of document content would otherwise push the
    control-plane template past CloudFormation's 1 MB limit (cfn-lint E1002; "CloudFormation quotas": template
    body size in an S3 object, 1 MB). The control plane names them by their fixed names, never by reference, so
    the two stacks share no export; the control plane is deployed after this one (a stack dependency)."""

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str = "", **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.documents = HostScriptDocuments(self, "HostScriptDocuments", prefix=prefix)


def document_prefix(deployment_name: str) -> str:
    """Document names already start with "FreshTrackOps-"; other deployment names prefix them."""
    return "" if deployment_name == "FreshTrackOps" else f"{deployment_name}-"


def instance_arn(scope: Construct, instance_id: str) -> str:
    """The IAM resource of an SSM target: ``i-…`` is an EC2 instance, ``mi-…`` a hybrid managed instance."""
    stack = Stack.of(scope)
    if instance_id.startswith("i-"):
        return stack.format_arn(service="ec2", resource="instance", resource_name=instance_id)
    if instance_id.startswith("mi-"):
        return stack.format_arn(service="ssm", resource="managed-instance", resource_name=instance_id)
    raise ValueError(f"instance_id: {instance_id!r} is neither an EC2 (i-...) nor a managed (mi-...) instance")
