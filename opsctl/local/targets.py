"""The targets parameter, as the control-plane stack deploys it from the configuration: one target per local
host (SSH with a pinned host key, SSM, or the local transport) plus SSM aliases of a host's machine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from freshtrack_ops import runtime
from freshtrack_ops.config import LocalTarget, SshTarget, SsmTarget, Target, TargetSet, parse_target
from opsctl.local.host import LocalHost
from opsctl.local.names import TARGETS_PARAMETER, instance_id_for

Client = Callable[[str], Any]
#: what an SSM alias keeps of its host's target (the rest is the SSM transport's)
_ALIAS_FIELDS = {"app_dir", "docker_bin", "domain", "health_url", "job_dir"}


class Targets:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._targets: dict[str, Target] = {}

    def deploy(self, hosts: Mapping[str, LocalHost], ssm_names: AbstractSet[str], aliases: Mapping[str, str]) -> None:
        """Targets for ``hosts`` (through SSM when named in ``ssm_names``) and ``aliases`` (alias -> host)."""
        for name, host in hosts.items():
            self._targets[name] = self._target_for(host, ssm=name in ssm_names)
        for alias, name in aliases.items():
            on_host = self._targets[name]
            self._targets[alias] = parse_target(
                on_host.model_dump(include=_ALIAS_FIELDS)
                | {"id": alias, "transport": "ssm", "instance_id": instance_id_for(alias)}
            )
        self._write()

    def all(self) -> list[Target]:
        return list(self._targets.values())

    def get(self, name: str) -> Target:
        return self._targets[name]

    def update(self, name: str, **changes: Any) -> Target:
        """Change a target's configuration as a redeploy would (e.g. pin another host key)."""
        updated = parse_target(self._targets[name].model_dump() | changes)
        self._targets[name] = updated
        self._write()
        return updated

    def _target_for(self, host: LocalHost, *, ssm: bool) -> Target:
        common: dict[str, Any] = {
            "id": host.name,
            "app_dir": str(host.app_dir),
            "docker_bin": str(host.docker_bin),
            "domain": f"{host.name}.freshtrack.local",
            "health_url": host.health_url,
            "job_dir": str(host.root / "jobs"),
        }
        if ssm:
            return SsmTarget(instance_id=instance_id_for(host.name), **common)
        if host.ssh_port is None:
            return LocalTarget(**common)
        secret_arn = self._client("secretsmanager").create_secret(
            Name=f"freshtrack-ops/local/{host.name}/ssh-key", SecretString=host.ssh_private_key
        )["ARN"]
        return SshTarget(
            address="127.0.0.1",
            port=host.ssh_port,
            user=host.ssh_user,
            private_key_secret_arn=secret_arn,
            host_public_key=host.ssh_host_public_key,
            connect_timeout_s=5.0,
            **common,
        )

    def _write(self) -> None:
        body = TargetSet(targets=tuple(self._targets.values())).parameter_json()
        self._client("ssm").put_parameter(Name=TARGETS_PARAMETER, Value=body, Type="String", Overwrite=True)
        runtime.reset()  # the tasks' cached parameter would otherwise keep the old targets for a minute
