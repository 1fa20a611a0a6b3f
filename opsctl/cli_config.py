"""``opsctl config validate|schema|init``: the deployment file, checked by the same models synth uses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from opsctl.errors import InvalidArguments
from opsctl.session import session

config_app = typer.Typer(name="config", help="Check, describe or start a deployment file.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


def _problems(raw: Any) -> list[str]:
    """One line per field in error ("field: message (got value)"), empty when ``raw`` is a valid deployment."""
    from pydantic import ValidationError

    from freshtrack_ops.config import DeploymentConfig, describe_validation_error

    try:
        DeploymentConfig.model_validate(raw)
    except ValidationError as exc:
        return describe_validation_error(exc).split("; ")
    return []


@config_app.command("validate")
def validate(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="the deployment file (YAML or JSON)")],
    json_flag: JsonFlag = False,
) -> None:
    """Validate a deployment file as synth would; exit 2 with one line per problem when it is not valid."""
    import yaml

    current = session(ctx, json_flag)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidArguments(f"{path}: cannot read deployment config: {exc}".replace("\n", " ")) from None
    problems = _problems(raw)
    targets = [t.get("id") for t in raw.get("targets", []) if isinstance(t, dict)] if isinstance(raw, dict) else []
    if current.json:
        current.emit_json({"path": str(path), "valid": not problems, "problems": problems, "targets": targets})
    elif not problems:
        current.out.print(
            f"{path}: valid ({len(targets)} target{'s' if len(targets) != 1 else ''}: {', '.join(map(str, targets))})",
            markup=False,
        )
    else:
        for problem in problems:
            current.err.print(f"{path}: {problem}", markup=False)
    if problems:
        raise typer.Exit(2)


@config_app.command("schema")
def schema(ctx: typer.Context) -> None:
    """Print the JSON schema of the deployment file (for editors: yaml-language-server's $schema)."""
    from freshtrack_ops.config import DeploymentConfig

    session(ctx).emit_json(DeploymentConfig.model_json_schema())


STARTER = """\
# FreshTrack Ops deployment file, written by `opsctl config init` and validated before it was written.
# Every field and its default: docs/configuration.md. Check it again after editing: opsctl config validate {path}
# Deploy: make synth CONFIG={path} && npx cdk deploy --all -c config={path}
# Secrets never go in here: only ARNs of Secrets Manager secrets and public host keys.

# Prefix of the stack names (<name>Storage, <name>ControlPlane) and of the targets parameter (/<name>/targets).
name: {name}

# Backups tagged retention=expiring expire after this many days; the newest verified ones never do.
retention_days: 30
# The retention task never deletes the newest N verified backups of a host.
keep_last_verified: 7
# Hours without a verified backup before the RPO alarm (the manual: daily backups, so 24 h + margin).
rpo_alarm_hours: 26
# One SNS e-mail subscription each (every address confirms the subscription mail).
notification_emails:
  - {email}

targets:
  - id: {target_id}
{access}    # the application's public name (verify-deployment.sh, the health URL https://<domain>/health)
    domain: {domain}
    # app_dir: /opt/freshtrack-pro      # the manual's defaults
    # database: frostguard
    backup:
      schedule: {backup_schedule}   # EventBridge Scheduler expression, UTC
      compression: auto                 # zstd-stream where the host has zstd, else gzip-default
    restore:
      test_restore_schedule: {test_restore_schedule}   # the daily non-destructive test restore
"""

SSH_ACCESS = """\
    # reached over SSH from the task functions (paramiko, host key pinned)
    transport: ssh
    address: {address}
    user: {user}
    # the Secrets Manager secret holding the OpenSSH private key (the key never leaves Secrets Manager/Lambda)
    private_key_secret_arn: {secret_arn}
    # the server's host key as in known_hosts (ssh-keyscan -t ed25519 {address})
    host_public_key: {host_key}
"""

SSM_ACCESS = """\
    # reached through SSM Run Command (attach the SsmHostPolicyArn output to its instance role)
    transport: ssm
    instance_id: {instance_id}
"""


def _ask(value: str | None, question: str, default: str | None = None) -> str:
    if value is not None:
        return value
    answer: str = typer.prompt(question, default=default) if default is not None else typer.prompt(question)
    return answer.strip()


@config_app.command("init")
def init(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="where to write the starter file")] = Path("freshtrack-ops.yaml"),
    name: Annotated[str | None, typer.Option(help="deployment name (stack prefix)")] = None,
    target_id: Annotated[str | None, typer.Option(help="the first server's id, e.g. prod")] = None,
    transport: Annotated[str | None, typer.Option(help="ssh or ssm")] = None,
    address: Annotated[str | None, typer.Option(help="ssh: the server's address")] = None,
    user: Annotated[str | None, typer.Option(help="ssh: the login user")] = None,
    secret_arn: Annotated[str | None, typer.Option(help="ssh: Secrets Manager ARN of the private key")] = None,
    host_key: Annotated[str | None, typer.Option(help="ssh: the server's public host key (known_hosts form)")] = None,
    instance_id: Annotated[str | None, typer.Option(help="ssm: the instance id (i-… or mi-…)")] = None,
    domain: Annotated[str | None, typer.Option(help="the application's domain")] = None,
    email: Annotated[str | None, typer.Option(help="where notifications go")] = None,
    force: Annotated[bool, typer.Option("--force", help="overwrite an existing file")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Write a commented starter deployment file from a few questions; nothing is written unless it validates."""
    import yaml

    current = session(ctx, json_flag)
    if path.exists() and not force:
        raise InvalidArguments(f"{path}: exists already (choose another path, or --force to overwrite)")
    name = _ask(name, "Deployment name (stack prefix)", "FreshTrackOps")
    target_id = _ask(target_id, "First server's id", "prod")
    transport = _ask(transport, "Reached over ssh or ssm", "ssh")
    if transport == "ssh":
        address = _ask(address, "Server address (DNS name or IP)")
        access = SSH_ACCESS.format(
            address=address,
            user=_ask(user, "SSH user", "freshtrack-ops"),
            secret_arn=_ask(secret_arn, "Secrets Manager ARN of the SSH private key"),
            host_key=_ask(host_key, f"Host public key (ssh-keyscan -t ed25519 {address})"),
        )
    elif transport == "ssm":
        access = SSM_ACCESS.format(instance_id=_ask(instance_id, "SSM instance id (i-… or mi-…)"))
    else:
        raise InvalidArguments(f"transport: should be ssh or ssm (got {transport!r})")
    text = STARTER.format(
        path=path,
        name=name,
        email=_ask(email, "Notification e-mail"),
        target_id=target_id,
        access=access,
        domain=_ask(domain, "Application domain"),
        backup_schedule="cron(0 2 * * ? *)",
        test_restore_schedule="cron(30 3 * * ? *)",
    )
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # an answer that breaks the YAML (a stray colon or quote)
        raise InvalidArguments(f"an answer does not fit in YAML: {exc}".replace("\n", " ")) from None
    problems = _problems(raw)
    if problems:
        raise InvalidArguments("nothing written: " + "; ".join(problems))
    path.write_text(text, encoding="utf-8")
    if current.json:
        current.emit_json({"path": str(path), "written": True, "config": raw})
    else:
        current.out.print(f"wrote {path} (valid); next: opsctl config validate {path}", markup=False)
