"""The targets parameter, as the control-plane stack deploys it from the configuration: one target per local
host (SSH with a pinned host key, SSM, or the local transport) plus SSM aliases of a host's machine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from freshtrack_ops import runtime
from freshtrack_ops.config import LocalTarget, SshTarget, SsmTarget, Target, TargetSet, parse_target
from opsctl.local.host import LocalHost
from opsctl.local.names import (
    ACCOUNT,
    INSTANCE_PROFILE,
    LAUNCH_TEMPLATE_SSH,
    LAUNCH_TEMPLATE_SSM,
    TARGETS_PARAMETER,
    instance_id_for,
)
from opsctl.local.provisioning import Deployment

Client = Callable[[str], Any]
#: what an SSM alias keeps of its host's target (the rest is the SSM transport's)
_ALIAS_FIELDS = {"app_dir", "docker_bin", "domain", "health_url", "job_dir"}


class Targets:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._targets: dict[str, Target] = {}

    def deploy(
        self,
        hosts: Mapping[str, LocalHost],
        ssm_names: AbstractSet[str],
        aliases: Mapping[str, str],
        ssh_aliases: Mapping[str, str] | None = None,
    ) -> None:
        """Targets for ``hosts`` (through SSM when named in ``ssm_names``), ``aliases`` (alias -> host, through SSM)
        and ``ssh_aliases`` (alias -> SSH host: its target under another id, the same address, login and keys)."""
        for name, host in hosts.items():
            self._targets[name] = self._target_for(host, ssm=name in ssm_names)
        for alias, name in (ssh_aliases or {}).items():
            self._targets[alias] = parse_target(self._targets[name].model_dump() | {"id": alias})
        for alias, name in aliases.items():
            on_host = self._targets[name]
            self._targets[alias] = parse_target(
                on_host.model_dump(include=_ALIAS_FIELDS)
                | {"id": alias, "transport": "ssm", "instance_id": instance_id_for(alias)}
            )
        self._write()

    def add_disaster_recovery(self, deployment: Deployment, ssh_users: Mapping[str, str]) -> None:
        """A ``dr`` section per target, as a configuration file would give it: the plane's launch template of the
        target's transport, the demo zone, an app-config secret of its own (created empty: the workflow's
        capture-config fills it), the key pair's secret and the local login for SSH replacements, a poll
        interval of one second (nothing boots slowly here)."""
        role_arn = f"arn:aws:iam::{ACCOUNT}:role/{INSTANCE_PROFILE}"
        for name, target in list(self._targets.items()):
            ssm = target.transport == "ssm"
            secret_name = f"freshtrack-ops/local/{name}/app-config"
            self._client("secretsmanager").create_secret(
                Name=secret_name, Description=f"FreshTrack Ops (local): {name}'s .env.production and secrets/"
            )
            dr: dict[str, Any] = {
                # by id, as a deployment names it (IAM can limit RunInstances to a template only by its id)
                "launch_template": deployment.launch_templates[LAUNCH_TEMPLATE_SSM if ssm else LAUNCH_TEMPLATE_SSH],
                "hosted_zone_id": deployment.hosted_zone_id,
                "app_config_secret_name": secret_name,
                "connect_via": "private-ip",
                "poll_interval_s": 1,
            }
            if ssm:
                dr |= {"transport": "ssm", "instance_role_arn": role_arn}
            else:
                dr |= {
                    "transport": "ssh",
                    "ssh_user": ssh_users.get(name, "root"),
                    "private_key_secret_arn": deployment.key_pair_secret_arn,
                }
            self._targets[name] = parse_target(target.model_dump() | {"dr": dr})
        self._write()

    def add_scaling(self, instance_ids: Mapping[str, str], allowed_types: tuple[str, ...]) -> None:
        """Each host's EC2 instance as its ``maintenance.ec2_instance_id`` and the types a scale may choose."""
        for name, instance_id in instance_ids.items():
            target = self._targets[name]
            maintenance = target.maintenance.model_copy(
                update={"ec2_instance_id": instance_id, "allowed_instance_types": allowed_types}
            )
            self._targets[name] = parse_target(target.model_dump() | {"maintenance": maintenance.model_dump()})
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

    @staticmethod
    def domain_of(name: str) -> str:
        """The domain of the target of the local host ``name``."""
        return f"{name}.freshtrack.local"

    def _target_for(self, host: LocalHost, *, ssm: bool) -> Target:
        common: dict[str, Any] = {
            "id": host.name,
            "app_dir": str(host.app_dir),
            "docker_bin": str(host.docker_bin),
            "domain": self.domain_of(host.name),
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
        runtime.forget_cached_values()  # the tasks' cached parameter would otherwise keep the old targets a minute
