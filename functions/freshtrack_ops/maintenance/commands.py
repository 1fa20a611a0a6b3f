"""What each maintenance workflow runs, in order, in the manual's words: the list a dry run answers with and the
audit entry keeps. The host scripts run exactly these steps (os_update.sh, rotate_secrets.sh, db_pool.sh); the
EC2 calls are the control plane's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from freshtrack_ops.config import Target

if TYPE_CHECKING:
    from freshtrack_ops.maintenance.models import MaintenancePlan


def _backup(plan: MaintenancePlan, target: Target) -> list[str]:
    return [f"pg_dump -Fc {target.database} | S3 {plan.backup.dump_key} (pre-maintenance backup, verified)"]


def _verify(target: Target) -> list[str]:
    return [
        f"{target.app_dir}/scripts/verify-deployment.sh {target.domain} (until it passes or the window ends)",
        f"GET {target.effective_health_url}; docker compose ps (every service running)",
    ]


def _os_update(plan: MaintenancePlan, target: Target) -> list[str]:
    settings = target.maintenance
    steps = [
        f"apt-get -o DPkg::Lock::Timeout={settings.dpkg_lock_wait_s} update",
        "apt-get -s upgrade (the packages to upgrade)",
        "DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Options::=--force-confdef "
        f"-o Dpkg::Options::=--force-confold upgrade (stopped after {settings.apt_timeout_s} s)",
    ]
    if plan.reboot == "if-required":
        via = "the SSM Agent (exit 194)" if target.transport == "ssm" else "systemctl reboot"
        steps.append(f"reboot through {via} if /var/run/reboot-required exists; wait up to {settings.reboot_wait_s} s")
    return steps


def _rotate(target: Target) -> list[str]:
    app = target.app_dir
    return [
        f"keep {app}/secrets/postgres_password.txt, jwt_secret.txt and .env.production (mode 600) as the way back",
        "generate a new database password and JWT secret on the host (openssl rand -base64 32)",
        f"ALTER USER {target.db_role} PASSWORD fed on psql's stdin (docker compose exec -T {target.postgres_service} "
        "psql): never argv, never shell history",
        f"write {app}/secrets/*.txt and .env.production atomically (mode 600)",
        "docker compose down; docker compose up -d",
        *_verify(target),
        "on failure: the old files and password back, docker compose down; up -d, verified again",
    ]


def _db_pool(plan: MaintenancePlan, target: Target) -> list[str]:
    services = " ".join(plan.pool_services or [])
    return [
        f"set DB_POOL_SIZE={plan.pool_size} in {target.app_dir}/.env.production (atomically; the old value kept)",
        f"docker compose restart {services}",
        *_verify(target),
        "on failure: the old DB_POOL_SIZE back, restart, verified again",
    ]


def _scale(plan: MaintenancePlan, target: Target) -> list[str]:
    instance = plan.instance_id
    return [
        f"ec2:StopInstances {instance}; wait until stopped",
        f"ec2:ModifyInstanceAttribute {instance} InstanceType={plan.instance_type}",
        f"ec2:StartInstances {instance}; wait until running and the host answers",
        "nproc; free -b; df -P (the new size)",
        *_verify(target),
        "if the new type cannot start: the old type back, started, verified",
    ]


def planned(plan: MaintenancePlan, target: Target) -> list[str]:
    """Every step of the plan's workflow, the pre-maintenance backup first."""
    if plan.workflow == "os-update":
        specific = _os_update(plan, target) + _verify(target)
    elif plan.workflow == "rotate-secrets":
        specific = _rotate(target)
    elif plan.workflow == "db-pool":
        specific = _db_pool(plan, target)
    else:
        specific = _scale(plan, target)
    return _backup(plan, target) + specific
