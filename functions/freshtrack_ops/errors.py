"""Errors whose class names are the ASL error names.

Lambda reports ``errorType`` = the exception's class name, so a state machine's Retry/Catch
match these names directly. Keep names stable: they are part of the workflows' contract.
"""

from __future__ import annotations

from freshtrack_ops.redact import redact


class OpsError(Exception):
    """Base class of every error a workflow may catch by name.

    Its message becomes the task's error cause: the execution history, the failure notification and the
    logs all show it. Messages are often built from external text (a host script's stderr, an SSM or S3 error
    that quotes a refused value), so every string argument is redacted here, once for all of them: a
    presigned URL never leaves in an error (``freshtrack_ops.redact``)."""

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(arg) if isinstance(arg, str) else arg for arg in args))


class InvalidInput(OpsError):
    """The execution input or a parameter failed validation; nothing was touched."""


class ConfigError(OpsError):
    """The deployment configuration is invalid or does not know the requested target."""


class LockHeld(OpsError):
    """Another execution holds the host lock."""


class LockStoreUnavailable(OpsError):
    """The lock table still throttled or failed a lock write after the SDK's own attempts (DynamoDB's
    ProvisionedThroughputExceededException, ThrottlingException, RequestLimitExceeded, InternalServerError,
    ServiceUnavailable): every lock state retries it (``state_machines.LOCK_STORE_RETRY``), then the workflow fails
    named. Retrying is safe: a put admits its own owner again, a delete of a lock already gone is a release."""


class HostUnreachable(OpsError):
    """The host could not be reached (connect, authenticate). Transient: retried."""


class HostKeyMismatch(OpsError):
    """The host presented a key other than the pinned one. Never retried."""


class HostConnectionLost(OpsError):
    """The connection to the host dropped while a command was running. Transient: retried."""


class HostCommandTimeout(OpsError):
    """A host command did not finish within its timeout."""


class HostCommandFailed(OpsError):
    """A host script exited non-zero."""


class DatabaseNotReady(OpsError):
    """PostgreSQL on the host does not accept connections."""


class InsufficientDisk(OpsError):
    """The host has less free disk than the operation needs."""


class DumpFailed(OpsError):
    """pg_dump failed or produced an incomplete stream."""


class UploadFailed(OpsError):
    """The backup store refused or lost part of an upload."""


class BackupNotFound(OpsError):
    """No backup matches the requested id."""


class DownloadFailed(OpsError):
    """Reading a backup from S3 failed in a way a later read may get past: a 5xx or throttling still answered after
    the SDK's attempts, or the connection cut mid-body. Nothing was concluded about the backup itself (that is
    BackupCorrupt); the reading workflow ends on its failure path, its scratch or incoming database dropped."""


class BackupCorrupt(OpsError):
    """A stored backup does not match its manifest (checksum, size, archive listing)."""


class VerificationFailed(OpsError):
    """A post-operation verification did not hold."""


class HostAuthFailed(OpsError):
    """The host refused our key. Never retried: a wrong key does not fix itself."""


class ApprovalRejected(OpsError):
    """An operator rejected a restore waiting for approval."""


class ApprovalTimedOut(OpsError):
    """Nobody answered a restore's approval request in time."""


class TimedOut(OpsError):
    """A state ran past its timeout (Step Functions' States.Timeout, renamed: Fail states cannot use States.*)."""


class LocalChanges(OpsError):
    """The app directory has local changes: an update refuses to overwrite them."""


class UnknownVersion(OpsError):
    """The requested release tag (or branch) does not exist on the app repository's origin."""


class NotFastForward(OpsError):
    """The branch's tip is not a fast-forward of what runs now (the manual's `git pull` would have to merge)."""


class DatabaseStateRefused(OpsError):
    """database.sh refused a restore-by-swap action: the databases are not in the state it needs (a name already
    taken, a database missing, one not marked as ours: exit 66, 67, 68); nothing was changed."""


class DatabaseBusy(OpsError):
    """Sessions kept coming back to a database being renamed (swap-in, swap-back: exit 69); nothing was renamed."""


class DowngradeRefused(OpsError):
    """The target version is older than the running one and the request did not allow a downgrade."""


class AlreadyAtVersion(OpsError):
    """The target version is the one already running: nothing to update."""


class DeployFailed(OpsError):
    """scripts/deploy-automated.sh failed or ran past its time limit."""


class RolledBack(OpsError):
    """An update failed after the checkout and was rolled back (the cause says what failed and what was undone)."""


class RollbackFailed(OpsError):
    """An update failed and its rollback failed too: the host needs a person (docs/runbooks.md)."""


class NothingToRollBack(OpsError):
    """The deployment history has no deployment the rollback could undo (none succeeded, or none left the
    requested version): nothing was touched."""


class UnexpectedVersion(OpsError):
    """The host runs another commit than the deployment history says it should: a rollback chosen from that
    history would not undo what runs, so nothing was touched."""


class ComposeOverrideInUse(OpsError):
    """The app directory has a compose override file FreshTrack Ops did not write: an image update could not pin
    images again without overwriting it, so it does not start."""


class FleetUpdateFailed(OpsError):
    """A fleet update ended with a host not updated (failed, rolled back, or never started after a failure)."""


class NoVerifiedBackup(OpsError):
    """A disaster recovery was asked to restore a backup that has not passed a test restore (or the host has none):
    refused before any server is provisioned."""


class HostKeyUnavailable(OpsError):
    """A new instance's console output holds no complete SSH host key block yet (still booting, or the block was cut
    off): the workflow polls again until its time limit. Never a reason to trust a key on first use."""


class HostKeyRejected(OpsError):
    """A new instance's console output holds a host key block that cannot be trusted (printed twice, a key of the
    pinned type listed twice or missing, a malformed or mislabelled key). Never retried."""


class ReplacementIsPrimary(OpsError):
    """The replacement server of a disaster recovery is the primary itself (same instance id or address): a
    recovery would restore over the server it replaces. Never retried."""


class ReplacementNotReady(OpsError):
    """A provisioned replacement did not run, or did not answer, within its time limit (dr.running_timeout_s,
    dr.reachable_timeout_s), or EC2 stopped it (terminated, shutting down) while it booted."""


class DnsChangeTimeout(OpsError):
    """Route 53 did not report the recovery's record change INSYNC within dr.dns_insync_timeout_s."""


class AppConfigUnavailable(OpsError):
    """A bootstrap found no usable app configuration in its secret (the secret does not exist, has no value, or its
    value is not the capture format): nothing was touched on the host. Run the capture-config step first."""


class AppConfigNotFound(OpsError):
    """The primary's app directory has no ``.env.production``: there is no configuration to capture, and the secret
    was left as it was."""


class AppConfigRefused(OpsError):
    """An app configuration holds an entry other than ``.env.production`` or ``secrets/<file>`` as a plain file (an
    absolute path, a ``..``, a link, a directory), or a malformed payload: refused before anything was written."""


class AppConfigTooLarge(OpsError):
    """The app configuration does not fit a Secrets Manager secret (64 KiB; the capture refuses archives over 48
    KiB of base64): nothing was written."""


class RevisionNotFound(OpsError):
    """A bootstrap's revision (the backup manifest's app version) is not in the app repository: the replacement's
    checkout and configuration were left untouched. Never retried."""


class RemediationSuppressed(OpsError):
    """The remediation guard refused: the (host, action) rate limit is spent or its circuit breaker is open."""


class RemediationFailed(OpsError):
    """A remediation did not clear the alert's condition: an action's command failed or found nothing to act on
    (no allowed service running), or the condition still held after remediation.verify_timeout_s."""


class ChatDeliveryFailed(OpsError):
    """The chat webhook did not take a notification after ``chat.max_attempts`` requests (a 4xx other than 429 at
    once). Names the last answer, never the URL (it is the credential); the message stays in Lambda's retries and
    then the dead-letter queue."""


class ServiceActionFailed(OpsError):
    """A service operation's command failed on the host (docker compose, fail2ban-client): the notification says
    which command and what it printed, and the services' states are whatever the command left."""


class MaintenanceFailed(OpsError):
    """A maintenance change failed on the host (db_pool.sh, rotate_secrets.sh): the workflow reverts it."""


class MaintenanceRefused(OpsError):
    """The host is not in a state the change can start from (a file it edits is missing): nothing was changed."""


class RotationPending(OpsError):
    """An earlier secret rotation was neither verified nor reverted (its kept old values are still on the host):
    nothing was rotated; revert or commit that one first (docs/maintenance.md)."""


class InstanceCapacityUnavailable(OpsError):
    """EC2 would not start the instance with its (new) type: no capacity for it in the instance's Availability Zone
    (InsufficientInstanceCapacity), the type not offered there (Unsupported), or the account's instance or vCPU
    limit reached (InstanceLimitExceeded, VcpuLimitExceeded). The instance stays stopped, with the type it was given:
    a scale sets the old type back and starts it again."""


class InstanceStateWrong(OpsError):
    """EC2 refused a change because of the instance's state (IncorrectInstanceState): its type changes only while it
    is stopped; a terminated or shutting-down instance never starts again."""


class InstanceStateTimeout(OpsError):
    """An EC2 instance did not reach the state a scale waits for (stopped, running) within maintenance.reboot_wait_s."""


class HostNotBack(OpsError):
    """The host did not answer again within maintenance.reboot_wait_s after a reboot or an instance start: the
    workflow keeps the host lock, and the MaintenanceHostNotBack alarm fires."""


class AptLockTimeout(OpsError):
    """Another apt/dpkg run (unattended-upgrades) held the dpkg lock (or the package lists' lock) longer than the
    target's ``maintenance.dpkg_lock_wait_s``: the OS update stopped before it upgraded anything. Worth trying again
    later."""


class AptTimedOut(OpsError):
    """apt-get ran past the target's ``maintenance.apt_timeout_s`` and was stopped: packages may be half upgraded
    (``sudo dpkg --configure -a`` finishes them; docs/runbooks.md)."""


class OsUpdateFailed(OpsError):
    """An OS update's command failed on the host (apt-get, or scheduling the reboot): the notification says which
    command and what it printed."""
