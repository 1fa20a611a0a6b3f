"""The application-update host side on a real local host: the update host scripts run by the local transport
against a real git origin, a real PostgreSQL and the docker shim, and the local plane's release features
(publish_release with a migration and a health marker, the realistic deploy script, image digests)."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from freshtrack_ops.adapters.local import LocalRunner
from freshtrack_ops.config import LocalTarget
from freshtrack_ops.errors import ComposeOverrideInUse
from freshtrack_ops.ports import CommandResult
from freshtrack_ops.update import images
from freshtrack_ops.update.models import ImagesRecord, PinImagesEvent, PinResult
from opsctl.local.host import LocalHost

pytestmark = pytest.mark.integration

PREFLIGHT_KEYS = ["current_version", "current_commit", "target_version", "target_commit", "target_is_tag",
                  "free_disk_mb"]  # fmt: skip
FINGERPRINT_KEYS = ["schema_sha256", "migrations", "last_migration"]
MIGRATION = (
    "ALTER TABLE sensors ADD COLUMN calibrated_at timestamptz;\n"
    "CREATE INDEX sensors_calibrated_idx ON sensors (calibrated_at);\n"
)
RUNNER = LocalRunner("update-tests")


@pytest.fixture
def host(tmp_path: Path) -> Iterator[LocalHost]:
    """A fresh host per test (the tests check out, deploy and break things): v1.1.0 and v1.2.0 released,
    v1.2.0 checked out and deployed."""
    with LocalHost(tmp_path / "host", readings=100, use_sshd=False) as fresh:
        yield fresh


# -- helpers -----------------------------------------------------------------------------------------------
def run(script: str, **env: str) -> CommandResult:
    return RUNNER.run(script, env, timeout_s=120)


def values(result: CommandResult, keys: list[str]) -> dict[str, str]:
    """The key=value lines of a successful run; exactly ``keys``, in that order."""
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.partition("=")[0] for line in lines] == keys, result.stdout
    return dict(line.partition("=")[::2] for line in lines)


def preflight(host: LocalHost, spec: str) -> CommandResult:
    return run("update_preflight.sh", APP_DIR=str(host.app_dir), TARGET_SPEC=spec)


def fingerprint(host: LocalHost, db: str = "frostguard", table: str = "schema_migrations") -> dict[str, str]:
    result = run(
        "schema_fingerprint.sh",
        APP_DIR=str(host.app_dir),
        DOCKER_BIN=str(host.docker_bin),
        PG_SERVICE="postgres",
        DB_NAME=db,
        DB_ROLE="frostguard",
        MIGRATIONS_TABLE=table,
    )
    return values(result, FINGERPRINT_KEYS)


def checkout(host: LocalHost, commit: str, branch: str = "") -> CommandResult:
    return run("app_checkout.sh", APP_DIR=str(host.app_dir), GIT_COMMIT=commit, BRANCH=branch)


def deploy(host: LocalHost, *, reset: bool = False) -> CommandResult:
    return run("app_deploy.sh", APP_DIR=str(host.app_dir), RESET="1" if reset else "0")


def verify(host: LocalHost) -> CommandResult:
    return run("app_verify.sh", APP_DIR=str(host.app_dir), DOMAIN="demo.freshtrack.local")


def git(host: LocalHost, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(host.app_dir), *args], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def health(host: LocalHost) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(host.health_url, timeout=5) as resp:
            return int(resp.status), json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return int(err.code), json.loads(err.read())


def applied(host: LocalHost) -> list[str]:
    return [str(row[0]) for row in host.sql("SELECT name FROM schema_migrations ORDER BY name")]


def docker(host: LocalHost, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(host.docker_bin), *args], capture_output=True, text=True, check=False, timeout=60)


# -- update_preflight.sh -----------------------------------------------------------------------------------
def test_preflight_latest_is_the_newest_release_by_version_never_a_pre_release(host: LocalHost) -> None:
    head = git(host, "rev-parse", "HEAD")
    assert values(preflight(host, "latest"), PREFLIGHT_KEYS) | {"free_disk_mb": "n"} == {
        "current_version": "v1.2.0",
        "current_commit": head,
        "target_version": "v1.2.0",
        "target_commit": head,
        "target_is_tag": "true",
        "free_disk_mb": "n",
    }
    host.publish_release("v1.9.0")
    newest = host.publish_release("v1.10.0")  # 1.10 > 1.9 as versions, not as text
    host.publish_release("v9.0.0-rc1")
    host.publish_release("v1.10.1-beta")
    out = values(preflight(host, "latest"), PREFLIGHT_KEYS)
    assert (out["target_version"], out["target_commit"], out["target_is_tag"]) == ("v1.10.0", newest, "true")
    assert (out["current_version"], out["current_commit"]) == ("v1.2.0", head)
    assert int(out["free_disk_mb"]) > 0
    # fetched, nothing checked out
    assert "v9.0.0-rc1" in git(host, "tag", "-l").split()
    assert git(host, "rev-parse", "HEAD") == head and git(host, "status", "--porcelain") == ""


def test_preflight_resolves_a_release_tag_and_refuses_an_unknown_one(host: LocalHost) -> None:
    older = git(host, "rev-parse", "v1.1.0^{commit}")  # an annotated tag: the commit, not the tag object
    out = values(preflight(host, "v1.1.0"), PREFLIGHT_KEYS)
    assert (out["target_version"], out["target_commit"], out["target_is_tag"]) == ("v1.1.0", older, "true")
    released = host.publish_release("v1.3.0", migration_sql=MIGRATION)  # published after the clone: fetched
    out = values(preflight(host, "v1.3.0"), PREFLIGHT_KEYS)
    assert (out["target_version"], out["target_commit"]) == ("v1.3.0", released)

    unknown = preflight(host, "v7.7.7")
    assert unknown.exit_code == 66 and "unknown version" in unknown.stderr and unknown.stdout == ""


def test_preflight_follows_a_branch_only_as_a_fast_forward(host: LocalHost) -> None:
    tip = host.publish_branch("feature/cold-chain", message="cold chain report")
    out = values(preflight(host, "branch:feature/cold-chain"), PREFLIGHT_KEYS)
    assert out["target_commit"] == tip and out["target_is_tag"] == "false"
    assert out["target_version"].startswith("v1.2.0-1-g")

    missing = preflight(host, "branch:feature/none")
    assert missing.exit_code == 66 and "unknown branch" in missing.stderr

    host.publish_branch("hotfix/old", base="v1.1.0")  # forked before HEAD's v1.2.0
    diverged = preflight(host, "branch:hotfix/old")
    assert diverged.exit_code == 67 and "not a fast-forward" in diverged.stderr and diverged.stdout == ""


def test_preflight_refuses_local_changes_and_fetches_nothing(host: LocalHost) -> None:
    host.publish_release("v1.3.0")
    (host.app_dir / "CHANGELOG.md").write_text("edited on the server\n")
    (host.app_dir / "hotfix.patch").write_text("untracked\n")
    refused = preflight(host, "latest")
    assert refused.exit_code == 65 and refused.stdout == ""
    assert len(refused.stderr.splitlines()) == 1
    assert "CHANGELOG.md" in refused.stderr and "hotfix.patch" in refused.stderr
    assert "v1.3.0" not in git(host, "tag", "-l").split()  # refused before the fetch
    assert (host.app_dir / "CHANGELOG.md").read_text() == "edited on the server\n"  # never overwritten

    git(host, "checkout", "--", "CHANGELOG.md")
    (host.app_dir / "hotfix.patch").unlink()
    for i in range(12):
        (host.app_dir / f"stray-{i:02d}.txt").write_text("x\n")
    many = preflight(host, "latest")
    assert many.exit_code == 65 and "12 path(s)" in many.stderr
    assert many.stderr.count("stray-") == 10


def test_preflight_reports_a_failed_fetch(host: LocalHost) -> None:
    git(host, "remote", "set-url", "origin", str(host.root / "no-such-origin.git"))
    failed = preflight(host, "latest")
    assert failed.exit_code == 68 and "git fetch" in failed.stderr and failed.stdout == ""


def test_preflight_of_a_commit_or_the_current_code_needs_no_origin(host: LocalHost) -> None:
    """A rollback names the commit that ran before (commit:<sha>), an image update the code checked out
    (current): neither fetches, so neither depends on origin being reachable."""
    head, older = git(host, "rev-parse", "HEAD"), git(host, "rev-parse", "v1.1.0^{commit}")
    git(host, "remote", "set-url", "origin", str(host.root / "no-such-origin.git"))
    out = values(preflight(host, f"commit:{older}"), PREFLIGHT_KEYS)
    assert (out["target_version"], out["target_commit"], out["target_is_tag"]) == ("v1.1.0", older, "false")
    assert out["current_commit"] == head
    out = values(preflight(host, "current"), PREFLIGHT_KEYS)
    assert (out["target_version"], out["target_commit"], out["current_commit"]) == ("v1.2.0", head, head)
    unknown = preflight(host, "commit:" + "0" * 40)
    assert unknown.exit_code == 66 and "unknown commit" in unknown.stderr and unknown.stdout == ""


# -- schema_fingerprint.sh ---------------------------------------------------------------------------------
def test_fingerprint_hashes_the_schema_only_and_counts_migrations(host: LocalHost) -> None:
    first = fingerprint(host)
    assert first["migrations"] == "2" and first["last_migration"] == "0002_alert_escalation"
    assert len(first["schema_sha256"]) == 64 and int(first["schema_sha256"], 16) >= 0
    host.sql("INSERT INTO organizations (name, slug, created_at) VALUES ('New', 'new', now())")
    assert fingerprint(host) == first  # data is not schema; pg_dump's per-run \restrict key is not either
    host.sql("CREATE DATABASE frostguard_copy TEMPLATE frostguard OWNER frostguard", db="postgres")
    try:
        assert fingerprint(host, db="frostguard_copy") == first  # an identical schema elsewhere: the same hash
    finally:
        host.sql("DROP DATABASE frostguard_copy WITH (FORCE)", db="postgres")

    # what a rollback that restores the pre-update backup compares: a restored database has the same hash
    dump = host.root / "frostguard.dump"
    with dump.open("wb") as fh:
        dumped = subprocess.run(
            [str(host.docker_bin), "compose", "exec", "-T", "postgres", "pg_dump", "-U", "frostguard", "-Fc",
             "frostguard"], stdout=fh, check=False, timeout=60,
        )  # fmt: skip
    assert dumped.returncode == 0
    host.sql("CREATE DATABASE frostguard_restored OWNER frostguard", db="postgres")
    try:
        env = {"APP_DIR": str(host.app_dir), "DOCKER_BIN": str(host.docker_bin), "PG_SERVICE": "postgres",
               "DB_ROLE": "frostguard", "TARGET_DB": "frostguard_restored"}  # fmt: skip
        with dump.open("rb") as fh:
            restored = RUNNER.run("restore_stream.sh", env, timeout_s=120, stdin=iter(lambda: fh.read(65536), b""))
        assert restored.exit_code == 0, restored.stderr
        assert fingerprint(host, db="frostguard_restored") == first
    finally:
        host.sql("DROP DATABASE frostguard_restored WITH (FORCE)", db="postgres")

    host.sql("ALTER TABLE sensors ADD COLUMN note text")
    changed = fingerprint(host)
    assert changed["schema_sha256"] != first["schema_sha256"] and changed["migrations"] == "2"
    assert fingerprint(host, table="no_such_table") == {**changed, "migrations": "0", "last_migration": ""}


def test_fingerprint_output_cannot_be_forged_and_fails_without_a_database(host: LocalHost) -> None:
    host.sql(
        "INSERT INTO schema_migrations (name, applied_at) VALUES (%s, now())",
        ["0003_evil\nmigrations=999\nschema_sha256=" + "0" * 64],
    )
    out = fingerprint(host)
    assert out["migrations"] == "3"
    assert out["last_migration"] == "0003_evil?migrations=999?schema_sha256=" + "0" * 64

    assert docker(host, "compose", "stop", "postgres").returncode == 0
    try:
        down = run("schema_fingerprint.sh", APP_DIR=str(host.app_dir), DOCKER_BIN=str(host.docker_bin),
                   PG_SERVICE="postgres", DB_NAME="frostguard", DB_ROLE="frostguard")  # fmt: skip
    finally:
        assert docker(host, "compose", "start", "postgres").returncode == 0
    assert down.exit_code != 0 and down.stdout == "" and "pg_dump --schema-only of frostguard failed" in down.stderr


# -- app_checkout.sh ---------------------------------------------------------------------------------------
def test_checkout_detached_or_as_a_branch_and_refusals(host: LocalHost) -> None:
    older = git(host, "rev-parse", "v1.1.0^{commit}")
    assert values(checkout(host, older), ["checked_out"]) == {"checked_out": older}
    assert git(host, "rev-parse", "HEAD") == older and host.app_version() == "v1.1.0"
    assert subprocess.run(["git", "-C", str(host.app_dir), "symbolic-ref", "-q", "HEAD"], check=False).returncode == 1

    tip = host.publish_branch("feature/cold-chain")
    assert preflight(host, "branch:feature/cold-chain").exit_code == 0  # fetches it (a fast-forward of v1.1.0)
    assert values(checkout(host, tip, "feature/cold-chain"), ["checked_out"]) == {"checked_out": tip}
    assert git(host, "symbolic-ref", "--short", "HEAD") == "feature/cold-chain"
    main = git(host, "rev-parse", "v1.2.0^{commit}")
    assert values(checkout(host, main, "main"), ["checked_out"]) == {"checked_out": main}  # -B: reset to it
    assert git(host, "symbolic-ref", "--short", "HEAD") == "main" and host.app_version() == "v1.2.0"

    unknown = checkout(host, "f" * 40)
    assert unknown.exit_code == 66 and "unknown commit" in unknown.stderr

    (host.app_dir / "docker-compose.yml").write_text("# edited\n")
    dirty = checkout(host, older)
    assert dirty.exit_code == 65 and "docker-compose.yml" in dirty.stderr
    assert git(host, "rev-parse", "HEAD") == main
    assert (host.app_dir / "docker-compose.yml").read_text() == "# edited\n"


# -- deploy, verify, down: an update and its rollback --------------------------------------------------------
def test_an_update_with_a_migration_and_its_rollback(host: LocalHost) -> None:
    before = fingerprint(host)
    assert health(host) == (200, {"status": "ok", "version": "1.2.0"})
    assert verify(host).exit_code == 0
    release = host.publish_release("v1.3.0", migration_sql=MIGRATION, healthy=False)
    target = values(preflight(host, "latest"), PREFLIGHT_KEYS)["target_commit"]
    assert target == release
    assert values(checkout(host, target), ["checked_out"]) == {"checked_out": release}

    first = deploy(host)
    assert first.exit_code == 0, first.stderr
    assert "preflight: checkpoint exists, skipping" in first.stdout
    assert "migration 0003_v1.3.0: applying" in first.stdout and "migrations: 1 applied" in first.stdout
    assert applied(host) == ["0001_initial", "0002_alert_escalation", "0003_v1.3.0"]
    after = fingerprint(host)
    assert after["schema_sha256"] != before["schema_sha256"]
    assert (after["migrations"], after["last_migration"]) == ("3", "0003_v1.3.0")
    assert host.deployed_release() == {"version": "v1.3.0", "healthy": False}
    code, body = health(host)
    assert code == 500 and body["version"] == "1.3.0" and "unhealthy" in str(body["reason"])
    failed = verify(host)
    assert failed.exit_code != 0 and "answered 500" in failed.stderr

    again = deploy(host)  # a second deployment of the same release applies nothing again
    assert again.exit_code == 0 and "migrations: 0 applied" in again.stdout
    assert applied(host) == ["0001_initial", "0002_alert_escalation", "0003_v1.3.0"]

    # the manual's rollback: down, checkout the previous version, --reset, deploy, verify
    down = run("app_down.sh", APP_DIR=str(host.app_dir), DOCKER_BIN=str(host.docker_bin))
    assert down.exit_code == 0 and set(host.services().values()) == {"exited"}
    assert ["docker", "compose", "down", "--timeout", "30"] in host.commands()
    assert health(host)[0] == 503
    previous = git(host, "rev-parse", "v1.2.0^{commit}")
    assert values(checkout(host, previous, "main"), ["checked_out"]) == {"checked_out": previous}
    rollback = deploy(host, reset=True)
    assert rollback.exit_code == 0, rollback.stderr
    out = rollback.stdout
    assert out.index("deployment checkpoints cleared") < out.index("preflight: ok") < out.index("v1.2.0 deployed")
    assert "migrations: 0 applied" in out
    # forward-only: v1.3.0's migration stays, and the schema with it
    assert applied(host) == ["0001_initial", "0002_alert_escalation", "0003_v1.3.0"]
    assert fingerprint(host) == after
    assert host.sql("SELECT count(*) FROM pg_attribute WHERE attrelid = 'sensors'::regclass AND attname = %s",
                    ["calibrated_at"]) == [(1,)]  # fmt: skip
    assert set(host.services().values()) == {"running"}
    assert host.deployed_release() == {"version": "v1.2.0", "healthy": True}
    assert health(host) == (200, {"status": "ok", "version": "1.2.0"})
    assert verify(host).exit_code == 0
    state = host.app_dir / ".deploy-state"
    assert (state / "deployed_version").read_text() == "v1.2.0\n"
    assert (state / "preflight.done").exists() and "step=complete" in (state / "checkpoint").read_text()


def test_reset_clears_the_checkpoints_only(host: LocalHost) -> None:
    state = host.app_dir / ".deploy-state"
    assert sorted(p.name for p in state.iterdir()) == ["checkpoint", "deployed_version", "preflight.done",
                                                       "prerequisites.done"]  # fmt: skip
    reset = subprocess.run(
        [str(host.app_dir / "scripts" / "deploy-automated.sh"), "--reset"], capture_output=True, text=True, check=False
    )
    assert reset.returncode == 0 and "checkpoints cleared" in reset.stdout
    assert list(state.iterdir()) == []
    assert host.deployed_release() == {"version": "v1.2.0", "healthy": True}  # nothing redeployed
    assert docker(host, "compose", "ps", "--format", "json").stdout.count('"State":"running"') == 5


def test_a_failing_deployment_leaves_the_running_release(host: LocalHost) -> None:
    host.set_fault("compose:build", {"fail": True, "message": "failed to solve: injected build failure"})
    try:
        broken_build = deploy(host)
    finally:
        host.set_fault("compose:build", None)
    assert broken_build.exit_code != 0 and "injected build failure" in broken_build.stderr

    release = host.publish_release("v1.3.0", migration_sql="ALTER TABLE no_such_table ADD COLUMN x int;")
    assert values(preflight(host, "v1.3.0"), PREFLIGHT_KEYS)["target_commit"] == release
    assert checkout(host, release).exit_code == 0
    before = fingerprint(host)
    broken_migration = deploy(host)
    assert broken_migration.exit_code != 0 and "no_such_table" in broken_migration.stderr
    assert fingerprint(host) == before  # the migration and its record, one transaction: neither stayed
    assert host.deployed_release() == {"version": "v1.2.0", "healthy": True}
    assert health(host) == (200, {"status": "ok", "version": "1.2.0"})
    assert "step=migrated" not in (host.app_dir / ".deploy-state" / "checkpoint").read_text()


# -- the docker shim's images ------------------------------------------------------------------------------
def test_compose_pull_moves_every_image_to_a_new_digest_and_up_recreates(host: LocalHost) -> None:
    before = host.images()
    assert list(before) == ["backend", "worker", "postgres", "redis", "caddy"]
    assert before["postgres"]["Repository"] == "postgres" and before["postgres"]["Tag"] == "15-alpine"
    assert (
        before["backend"]["Repository"] == "ghcr.io/freshtrack/freshtrack-pro" and before["backend"]["Tag"] == "1.2.0"
    )
    for row in before.values():
        assert row["Digest"] == row["RunningDigest"] and row["Digest"].startswith("sha256:")
        assert len(row["Digest"]) == len(row["ID"]) == 71 and row["Generation"] == 1
        assert row["ID"] != row["Digest"], "an image id is not a registry digest"
    assert len({row["Digest"] for row in before.values()}) == 5

    assert docker(host, "compose", "pull").returncode == 0
    pulled = host.images()
    for service, row in pulled.items():
        assert row["Digest"] != before[service]["Digest"] and row["Generation"] == 2
        assert row["RunningDigest"] == before[service]["Digest"]  # containers keep theirs until up
    assert host.shim_state()["pulls"][-1]["generations"] == dict.fromkeys(before, 2)

    up = docker(host, "compose", "up", "-d")
    assert up.returncode == 0 and up.stderr.count("Recreate") == 5
    assert all(row["RunningDigest"] == row["Digest"] for row in host.images().values())
    assert set(host.services().values()) == {"running"}
    assert health(host)[0] == 200
    assert docker(host, "compose", "up", "-d").stderr.count("Running") == 5  # nothing changed: nothing recreated

    assert docker(host, "compose", "pull", "redis").returncode == 0
    assert [row["Generation"] for row in host.images().values()] == [2, 2, 2, 3, 2]
    table = docker(host, "compose", "images", "redis").stdout.splitlines()
    assert table[0].split() == ["CONTAINER", "REPOSITORY", "TAG", "IMAGE", "ID", "DIGEST"]
    assert table[1].split()[1:3] == ["redis", "7-alpine"] and table[1].split()[-1] == host.images()["redis"]["Digest"]
    ids = [r["ID"].removeprefix("sha256:") for r in host.images().values()]
    assert docker(host, "compose", "images", "-q").stdout.split() == ids
    assert docker(host, "compose", "images", "nope").returncode != 0


# -- image updates: record, pull, pin (app_images.sh, app_deploy.sh PULL_IMAGES, app_images_pin.sh) -----------
PULLED = ("postgres", "redis", "caddy")  # the services whose image is pulled, not built


def target_of(host: LocalHost) -> LocalTarget:
    return LocalTarget(id="demo", domain="demo.freshtrack.local", app_dir=str(host.app_dir),
                       docker_bin=str(host.docker_bin))  # fmt: skip


def record(host: LocalHost) -> ImagesRecord:
    target = target_of(host)
    return images.read_record(target, images.record_command(target).run(RUNNER))


def pin(host: LocalHost, recorded: ImagesRecord) -> PinResult:
    target = target_of(host)
    event = PinImagesEvent(host="demo", update_id="demo-20260101T000000Z-0a1b2c3d", recorded=recorded)
    return images.read_pin(event, target, images.pin_command(event, target).run(RUNNER))


def running(host: LocalHost) -> dict[str, str]:
    return {service: row["RunningDigest"] for service, row in host.images().items()}


def pull_and_deploy(host: LocalHost) -> CommandResult:
    return run("app_deploy.sh", APP_DIR=str(host.app_dir), PULL_IMAGES="1", DOCKER_BIN=str(host.docker_bin))


def test_a_broken_image_update_is_pinned_back_to_the_recorded_digests_until_the_next_one(host: LocalHost) -> None:
    before = running(host)
    recorded = record(host)
    by_service = {image.service: image for image in recorded.images}
    assert sorted(by_service) == sorted(before) and recorded.pinned_by == ""
    for service in PULLED:  # the registry digest of what runs, never the image id
        assert by_service[service].repo_digests == (f"{host.images()[service]['Repository']}@{before[service]}",)
        assert by_service[service].image_id != before[service]
    assert by_service["backend"].repo_digests == ()  # built on the host: nothing a registry could serve

    host.publish_images(healthy=False)
    pulled = pull_and_deploy(host)
    assert pulled.exit_code == 0, pulled.stderr
    assert all(running(host)[service] != before[service] for service in PULLED)
    assert verify(host).exit_code != 0 and health(host)[0] == 500

    pinned = pin(host, recorded)
    assert sorted(pinned.pinned) == sorted(PULLED) and pinned.rebuilt == ("backend", "worker")
    assert pinned.pin_file == "docker-compose.override.yml" and "pinned again" in pinned.text
    assert (host.app_dir / pinned.pin_file).read_text().startswith("# FreshTrack Ops image pins\n")
    assert docker(host, "compose", "pull").returncode == 0  # a pinned service is pulled at its digest: unchanged
    assert run("app_down.sh", APP_DIR=str(host.app_dir), DOCKER_BIN=str(host.docker_bin)).exit_code == 0
    assert deploy(host, reset=True).exit_code == 0
    assert {s: running(host)[s] for s in PULLED} == {s: before[s] for s in PULLED}, "the recorded digests run"
    assert verify(host).exit_code == 0 and health(host)[0] == 200
    # the pins are no local change: an update's preflight passes, an image update's record names them
    assert git(host, "status", "--porcelain") == "?? docker-compose.override.yml"
    assert values(preflight(host, "current"), PREFLIGHT_KEYS)["target_commit"] == git(host, "rev-parse", "HEAD")
    assert record(host).pinned_by == "docker-compose.override.yml"

    host.publish_images(healthy=True)
    fixed = pull_and_deploy(host)
    assert fixed.exit_code == 0 and "removed the image pins" in fixed.stdout
    assert not (host.app_dir / "docker-compose.override.yml").exists()
    assert all(running(host)[service] not in (before[service], "") for service in PULLED)
    assert verify(host).exit_code == 0


def test_someone_elses_override_file_is_never_touched(host: LocalHost) -> None:
    theirs = host.app_dir / "compose.override.yml"
    text = "services:\n  caddy:\n    image: caddy:2.7-alpine\n"
    theirs.write_text(text)
    with pytest.raises(ComposeOverrideInUse, match=r"compose\.override\.yml"):
        record(host)
    pulls = len(host.shim_state()["pulls"])
    refused = pull_and_deploy(host)
    assert refused.exit_code == 65 and "was not written by FreshTrack Ops" in refused.stderr
    assert len(host.shim_state()["pulls"]) == pulls, "nothing was pulled"
    recorded = ImagesRecord.model_validate({"images": []})
    with pytest.raises(ComposeOverrideInUse):
        pin(host, recorded)
    assert theirs.read_text() == text
    assert preflight(host, "current").exit_code == 65, "an untracked file of someone else is a local change"
