"""Markdown for the backup benchmark: the tables printed at the end and the section of docs/performance.md."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench:backup:begin (written by `make bench`; edits inside are overwritten) -->"
END = "<!-- bench:backup:end -->"

DOC_HEADER = """# Performance

Benchmarks, not timed tests: `make bench` (`python -m bench`) measures and reports; targets come from
DESIGN §8 and are reported PASS/MISS, never asserted. Raw results: `bench/results/*.json`.
"""

METHOD = """\
One run, one local plane (`opsctl.local.LocalPlane`: moto in-process as AWS, the real ASL interpreted by
moto, the Lambda handlers in-process, a local FreshTrack host with a real PostgreSQL and a real sshd on
127.0.0.1, reached as target `demo` over SSH and as target `demo-ssm` over SSM Run Command: one machine, one
database), one FreshTrack-shaped database seeded once (`opsctl.local.seed`), then `VACUUM FREEZE` +
`CHECKPOINT` and one unmeasured warm-up backup per transport. Each round runs, per compression, in this order:

* **raw**: `docker compose exec -T postgres pg_dump -U frostguard -Fc [--compress=N] frostguard > /dev/null`
  through the host's docker shim (the real pg_dump); wall time, pg_dump CPU (`RUSAGE_CHILDREN` delta) and
  its backend's CPU (the postmaster's reaped-children CPU delta). This is the physical limit.
* **manual**: the operations manual's way: the same dump to a file on the host, then boto3 `upload_file`
  (default `TransferConfig`) of that file to the same bucket; wall time of both steps.
* **streamed**: `plane.run("backup", {"host": "demo"})`, the real workflow with the compression switched by
  `plane.update_target(..., backup=BackupSettings(compression=...))`: paramiko over sshd, 8 MB parts, one
  upload thread. "StreamDump" is that state's duration (Lambda invocation, secret, SSH connect, dump,
  row counts, `complete_multipart_upload`); the S3 object's sha256 is recomputed and compared with the
  manifest's. Peak RSS is this process's: `VmHWM` reset (`/proc/self/clear_refs`) before the run and read
  when `complete()` is called, minus the RSS just before the run (a 50 ms `VmRSS` sampler cross-checks it).
  It excludes `complete()` itself because moto, being in-process, joins every part in memory there (2 x
  the object size; S3 does that server-side); that figure is reported separately. It includes moto's side
  of each `UploadPart` (moto spools parts > 5 MB to temporary files), so it is an upper bound.
* **product path** (the headline `peak_rss_mb`): `backup_dump.sh` over the runner the tasks build
  (`runtime.runner_for`), read by `pump()` with 8 MB parts into an upload object that drops every part,
  so no moto (nor S3 client) memory is involved: `VmHWM` reset before, read after, minus the RSS before.
  This is what the BackupDump Lambda itself holds while streaming; its MB/s is pg_dump-bound.
* **streamed over SSM**: `plane.run("backup", {"host": "demo-ssm"})` right after the SSH run, same
  compression, same database. Its StreamDump state includes: the BackupDump Lambda creating the multipart
  upload and presigning one SigV4 `UploadPart` URL per possible part (2 x the database size / 8 MiB + 1)
  into an `ssm-exchange/` list object, then `SendCommand` of `ssm_backup_upload.sh`; the local SSM executor
  (the agent's stand-in) spawning `/bin/sh` in a new session, a child of the bench process; on the host,
  `pg_dump` → `tee` (sha256sum, wc) → `split --filter`, each 8 MB part staged to a temporary file and PUT by
  `curl` to its presigned URL on moto's HTTP server (werkzeug, threaded, inside the bench process) on
  127.0.0.1; then the command's completion event → the HostCommandDone Lambda (`GetCommandInvocation`, the
  same step reads the host's report) → `complete_multipart_upload` (the "of which" row,
  `presign.complete_from_output`) → `SendTaskSuccess`. Its "plane process" CPU is the bench process's own (it
  also serves the part PUTs); its "host" CPU is the script's process tree, read as the bench process's
  reaped-children CPU delta (`RUSAGE_CHILDREN`, whole execution, preflight included) where the SSH path reads
  sshd's reaped sessions; its peak RSS is the bench process's, moto's receiving side included. On AWS the
  agent runs on the host and S3 is a separate service across the network; here curl, moto's server and the
  plane share the same cores and the loopback, so SSM vs SSH shows the local cost of the path (presigning,
  temp files, curl, HTTP parsed in Python), not what AWS would measure.

Ratios divide medians over the rounds, same compression. `stream_vs_raw_ratio` = StreamDump (SSH) / raw,
`stream_vs_manual_ratio` = StreamDump (SSH) / manual total, `ssm_vs_raw_ratio` = StreamDump (SSM) / raw,
`ssm_vs_stream_ratio` = StreamDump (SSM) / StreamDump (SSH). The peak RSS is also measured after re-seeding the
same database at a smaller size, to show it does not grow with the database. SSH: the product's
`SshRunner` session (paramiko's rekey thresholds raised, sshd drives rekeying) reads
`head -c N /dev/zero` over one channel, bare and through `pump()` into a multipart upload, N > 512 MiB.
"""


def _fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _med(block: dict[str, Any], key: str) -> float | None:
    entry = block.get(key)
    if isinstance(entry, dict):
        median = entry.get("median")
        return float(median) if median is not None else None
    return None


def results_table(data: dict[str, Any]) -> str:
    comps: list[str] = data["compressions"]
    big = data["database"]["big"]
    n = data["config"]["repeat"]
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, cells: list[str]) -> None:
        rows.append((label, cells))

    res = data["results"]
    row("dump size (MB)", [_fmt(res[c]["raw"]["size_mb"], 1) for c in comps])
    row("raw `pg_dump -Fc > /dev/null` (s)", [_fmt(_med(res[c]["raw"], "wall_s")) for c in comps])
    row(
        "raw CPU: pg_dump / backend (s)",
        [f"{_fmt(_med(res[c]['raw'], 'client_cpu_s'))} / {_fmt(_med(res[c]['raw'], 'server_cpu_s'))}" for c in comps],
    )
    row(
        "manual: dump to file + `upload_file` (s)",
        [
            f"{_fmt(_med(res[c]['manual'], 'dump_s'))} + {_fmt(_med(res[c]['manual'], 'upload_s'))}"
            f" = {_fmt(_med(res[c]['manual'], 'total_s'))}"
            for c in comps
        ],
    )
    row("streamed over SSH: StreamDump state (s)", [_fmt(_med(res[c]["stream"], "stream_state_s")) for c in comps])
    row(
        "streamed over SSH: of which moto `complete()` (s)",
        [_fmt(_med(res[c]["stream"], "complete_s")) for c in comps],
    )
    row("streamed over SSH: whole execution (s)", [_fmt(_med(res[c]["stream"], "execution_s")) for c in comps])
    row(
        "streamed over SSH CPU: plane process / host / backends (s)",
        [
            f"{_fmt(_med(res[c]['stream'], 'plane_cpu_s'))} / {_fmt(_med(res[c]['stream'], 'host_cpu_s'))}"
            f" / {_fmt(_med(res[c]['stream'], 'server_cpu_s'))}"
            for c in comps
        ],
    )
    row("**stream_vs_raw_ratio**", [f"**{_fmt(res[c]['stream_vs_raw_ratio'], 3)}**" for c in comps])
    row("**stream_vs_manual_ratio**", [f"**{_fmt(res[c]['stream_vs_manual_ratio'], 3)}**" for c in comps])
    row("execution / raw", [_fmt(res[c]["execution_vs_raw_ratio"], 3) for c in comps])
    row(
        "SSH workflow peak RSS above baseline incl. moto's side, max (MB)",
        [_fmt(res[c]["stream"]["peak_rss_delta_mb"]["max"], 1) for c in comps],
    )
    row(
        "peak RSS absolute / incl. moto complete (MB)",
        [
            f"{_fmt(res[c]['stream']['peak_rss_abs_mb']['max'], 1)} / "
            f"{_fmt(res[c]['stream']['peak_rss_with_complete_abs_mb']['max'], 1)}"
            for c in comps
        ],
    )
    heap = data["peak_rss"].get("python_heap_traced")
    if heap:
        row(
            "live Python memory of the streaming, tracemalloc (MB)",
            [_fmt(heap["big"]["python_heap_peak_mb"], 1) if c == heap["big"]["compression"] else "" for c in comps],
        )
    row(
        "SSH: S3 object sha256 == manifest",
        ["all runs" if res[c]["stream"]["sha256_ok"] else "**NO**" for c in comps],
    )
    if all(res[c].get("ssm") for c in comps):
        _ssm_rows(res, comps, row)
    prod = data.get("product_stream")
    if prod:
        big_p = prod["big"]
        row(
            "**product path** (SSH dump stream → `pump()` → discarding upload, no moto): "
            "peak RSS above baseline (MB) / s / MB/s",
            [
                f"**{_fmt(big_p['peak_rss_delta_mb'], 1)}** / {_fmt(big_p['seconds'])} / {_fmt(big_p['mb_per_s'], 1)}"
                if c == big_p["compression"]
                else ""
                for c in comps
            ],
        )

    small = data["database"]["small"]
    sres = data["small_db"]
    row(f"small DB ({small['size_mb']:.0f} MB): dump size (MB)", [_fmt(sres[c]["size_mb"], 1) for c in comps])
    row(
        "small DB: raw / StreamDump (s)",
        [f"{_fmt(sres[c]['raw_s'])} / {_fmt(sres[c]['stream_state_s'])}" for c in comps],
    )
    row("small DB: peak RSS above baseline (MB)", [_fmt(sres[c]["peak_rss_delta_mb"], 1) for c in comps])
    if prod:
        small_p = prod["small"]
        row(
            "small DB: **product path** peak RSS (MB) / s / MB/s",
            [
                f"**{_fmt(small_p['peak_rss_delta_mb'], 1)}** / {_fmt(small_p['seconds'])} / "
                f"{_fmt(small_p['mb_per_s'], 1)}"
                if c == small_p["compression"]
                else ""
                for c in comps
            ],
        )
    if heap:
        row(
            "small DB: live Python memory, tracemalloc (MB)",
            [_fmt(heap["small"]["python_heap_peak_mb"], 1) if c == heap["small"]["compression"] else "" for c in comps],
        )

    header = f"| {big['size_mb']:.0f} MB database, median of {n} | " + " | ".join(f"`{c}`" for c in comps) + " |"
    lines = [header, "|---|" + "---|" * len(comps)]
    lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
    return "\n".join(lines)


def _ssm_rows(res: dict[str, Any], comps: list[str], row: Callable[[str, list[str]], None]) -> None:
    """The SSM path's rows (target ``demo-ssm``: the same machine and database as the SSH rows)."""
    row("**streamed over SSM**: StreamDump state (s)", [_fmt(_med(res[c]["ssm"], "stream_state_s")) for c in comps])
    row(
        "streamed over SSM: of which `complete_multipart_upload` (moto) (s)",
        [_fmt(_med(res[c]["ssm"], "complete_s")) for c in comps],
    )
    row("streamed over SSM: whole execution (s)", [_fmt(_med(res[c]["ssm"], "execution_s")) for c in comps])
    row(
        "streamed over SSM: dump size (MB) / parts",
        [
            f"{_fmt(_mib(_med(res[c]['ssm'], 'size_bytes')), 1)} / {_fmt(_int(_med(res[c]['ssm'], 'parts')))}"
            for c in comps
        ],
    )
    row(
        "streamed over SSM CPU: plane process / host script tree / backends (s)",
        [
            f"{_fmt(_med(res[c]['ssm'], 'plane_cpu_s'))} / {_fmt(_med(res[c]['ssm'], 'host_cpu_s'))}"
            f" / {_fmt(_med(res[c]['ssm'], 'server_cpu_s'))}"
            for c in comps
        ],
    )
    row("**ssm_vs_raw_ratio**", [f"**{_fmt(res[c]['ssm_vs_raw_ratio'], 3)}**" for c in comps])
    row(
        "**ssm_vs_stream_ratio** (SSM / SSH StreamDump)",
        [f"**{_fmt(res[c]['ssm_vs_stream_ratio'], 3)}**" for c in comps],
    )
    row("SSM execution / raw", [_fmt(res[c]["ssm_execution_vs_raw_ratio"], 3) for c in comps])
    row(
        "SSM workflow peak RSS above baseline incl. moto's HTTP side, max (MB)",
        [_fmt(res[c]["ssm"]["peak_rss_delta_mb"]["max"], 1) for c in comps],
    )
    row("SSM: S3 object sha256 == manifest", ["all runs" if res[c]["ssm"]["sha256_ok"] else "**NO**" for c in comps])


def _mib(value: float | None) -> float | None:
    return value / 2**20 if value is not None else None


def _int(value: float | None) -> int | None:
    return round(value) if value is not None else None


def targets_table(data: dict[str, Any]) -> str:
    lines = ["| target (DESIGN §8) | measured | result |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {t['result']} |" for t in data["targets"]]
    return "\n".join(lines)


def ssh_table(data: dict[str, Any]) -> str:
    bare, piped = data["ssh"]["channel"], data["ssh"]["pump_to_s3"]
    gcm = data["ssh"].get("channel_aes128_gcm")
    return "\n".join(
        [
            "| one SSH channel | bytes received == expected | MB/s | notes |",
            "|---|---|---|---|",
            f"| bare read, {bare['expected_bytes'] // 2**20} MiB | {bare['bytes_ok']} ({bare['received_bytes']}) "
            f"| {bare['mb_per_s']} | cipher {bare['cipher']}, exit {bare['exit_status']} |",
            *(
                [
                    f"| bare read, aes128-gcm preferred (bench-only), {gcm['expected_bytes'] // 2**20} MiB "
                    f"| {gcm['bytes_ok']} ({gcm['received_bytes']}) | {gcm['mb_per_s']} | cipher {gcm['cipher']} |"
                ]
                if gcm
                else []
            ),
            f"| through `pump()` into S3 (moto), {piped['expected_bytes'] // 2**20} MiB | {piped['bytes_ok']} "
            f"(sha256 ok: {piped['sha256_ok']}) | {piped['mb_per_s']} | {piped['part_size_mb']} MB parts, "
            f"peak RSS +{piped['peak_rss_delta_mb']} MB |",
        ]
    )


def machine_line(data: dict[str, Any]) -> str:
    m = data["machine"]
    return (
        f"{data['date']}: {m['nproc']} cores ({m['cpu_model']}), shared with other work "
        f"(load average {m['loadavg_start']} at start, {m['loadavg_end']} at end); {m['mem_total_gb']} GB RAM; "
        f"{m['pg_version']}; {m['pg_dump_version']}; Python {m['python']}, paramiko {m['paramiko']}, "
        f"boto3 {m['boto3']}, moto {m['moto']}. Database {data['database']['big']['size_mb']:.0f} MB "
        f"(`pg_database_size`), seeded in {data['database']['big']['seed_s']:.0f} s; bench runtime "
        f"{data['runtime_s']:.0f} s."
    )


def section(data: dict[str, Any]) -> str:
    notes = "\n".join(f"* {note}" for note in data.get("notes", []))
    return "\n\n".join(
        [
            BEGIN,
            "## Backup: streamed (SSH, SSM) vs raw `pg_dump` vs the manual's way",
            machine_line(data),
            "### Targets",
            targets_table(data),
            "### Results",
            results_table(data),
            "### One SSH channel beyond 512 MiB",
            ssh_table(data),
            "### Notes",
            notes or "* none",
            "### Method",
            METHOD.rstrip(),
            END,
        ]
    )


def _replace_block(path: Path, begin: str, end: str, block: str) -> None:
    """Replace the ``begin``..``end`` block of ``path`` (or append it; create the file with a header if missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else DOC_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n", encoding="utf-8")


def write_docs(path: Path, data: dict[str, Any]) -> None:
    """Replace the backup section of ``path`` (or append it)."""
    _replace_block(path, BEGIN, END, section(data))


# -- restore -------------------------------------------------------------------------------------
RESTORE_BEGIN = "<!-- bench:restore:begin (written by `make bench`; edits inside are overwritten) -->"
RESTORE_END = "<!-- bench:restore:end -->"

RESTORE_METHOD = """\
Same kind of plane and database as the backup part (shared when both run). One backup through the real
workflow, then a test restore of it (so `latest-verified` resolves to it). Every measurement restores into
a fresh empty database owned by `frostguard` (dropped and recreated as superuser outside the timing,
`CHECKPOINT` before), and its per-table row counts are compared with the manifest afterwards:

* **plain local `pg_restore`** (the limit): the S3 object downloaded to a file on the host first (not timed),
  then `docker compose exec -T postgres pg_restore -U frostguard -d <db> --exit-on-error --single-transaction
  --no-owner --role=frostguard <file>` through the host's docker shim (the real pg_restore), the flags of
  `restore_stream.sh`. `-j N` drops `--single-transaction` (they cannot combine).
* **streamed** (the product): `freshtrack_ops.restore.load.load_backup(...)` called directly with the runner
  the tasks build (`runtime.runner_for`: secret, pinned host key, AES-GCM first) and `runtime.store()`:
  S3 `GetObject` → sha256 → SSH stdin → `pg_restore`. The test-restore workflow's LoadScratch state (the same
  call inside a Lambda invocation) is reported too.
* **temp file + `-j 2`** (what the product could do): the same S3 chunks over the same runner's SSH session
  into `cat > file` on the host, then `pg_restore -j 2` of that file over SSH; the two steps summed.
* **RTO**: `plane.run("restore", {"host": "demo", "backup_id": "latest-verified", "confirm": "frostguard"})` on the
  live database: wall time of the execution; the safety backup (SafetyPreflight + SafetyDump + SafetyManifest)
  reported apart and subtracted for the target.

`restore_vs_local_ratio` = (RTO - safety backup) / plain local; `stream_vs_local_ratio` = streamed / plain local;
`jobs2_vs_stream_ratio` = local `-j 2` / streamed; `tempfile_j2_vs_stream_ratio` = temp file + `-j 2` / streamed.
Medians over the rounds (`-j 4` runs in round 1 only).
"""


def restore_table(data: dict[str, Any]) -> str:
    sec, rto = data["seconds"], data["rto"]
    n = len(data["runs"].get("local", []))
    tmp_detail = f"{_fmt(sec['tempfile_j2_to_file'])} to file + {_fmt(sec['tempfile_j2_pg_restore'])} pg_restore"
    rows = [
        ("plain local `pg_restore`, single job (the limit)", sec["local_single"], "1.000"),
        ("local `pg_restore -j 2`", sec["local_j2"], _fmt(_div(sec["local_j2"], sec["local_single"]), 3)),
        (
            "local `pg_restore -j 4` (round 1 only)",
            sec["local_j4"],
            _fmt(_div(sec["local_j4"], sec["local_single"]), 3),
        ),
        (
            "**streamed** S3 → SSH → `pg_restore` (`load_backup`, direct)",
            sec["stream_load_backup"],
            _fmt(data["stream_vs_local_ratio"], 3),
        ),
        (
            "streamed, test-restore's LoadScratch state (one run)",
            sec["stream_load_scratch_state"],
            _fmt(_div(sec["stream_load_scratch_state"], sec["local_single"]), 3),
        ),
        (
            f"temp file over SSH + `pg_restore -j 2` ({tmp_detail})",
            sec["tempfile_j2"],
            _fmt(_div(sec["tempfile_j2"], sec["local_single"]), 3),
        ),
        (
            "**restore execution (RTO) by swap, everything included**",
            rto["execution_s"],
            f"**{_fmt(data['restore_vs_local_ratio'], 3)}**",
        ),
        (
            "  of which LoadIncoming (streamed load into the incoming database)",
            rto["restore_database_s"],
            _fmt(_div(rto["restore_database_s"], sec["local_single"]), 3),
        ),
    ]
    old_path = data.get("rto_old_path")
    if old_path:
        rows += [
            (
                "restore execution, the old path (safety backup, drop, load)",
                old_path["execution_s"],
                _fmt(_div(old_path["execution_s"], sec["local_single"]), 3),
            ),
            ("  of which the safety backup", old_path["safety_backup_s"], ""),
            (
                "  of which RestoreDatabase (streamed load of the live DB)",
                old_path["restore_database_s"],
                _fmt(_div(old_path["restore_database_s"], sec["local_single"]), 3),
            ),
        ]
    lines = [
        f"| {data['database_mb']:.0f} MB database, {data['backup']['dump_mb']:.0f} MB dump, median of {n} "
        "| seconds | x plain local |",
        "|---|---|---|",
    ]
    lines += [f"| {label} | {_fmt(value)} | {ratio} |" for label, value, ratio in rows]
    return "\n".join(lines)


def _div(a: Any, b: Any) -> float | None:
    return float(a) / float(b) if a is not None and b else None


def restore_ratios_table(data: dict[str, Any]) -> str:
    rto = data["rto"]
    low, high = rto["manual_estimate_s"]
    targets = data.get("targets") or [data["target"]]
    return "\n".join(
        [
            "| ratio / target | measured | result |",
            "|---|---|---|",
            *(f"| {t['target']} | {t['measured']} | {t['result']} |" for t in targets),
            f"| `stream_vs_local_ratio` | {_fmt(data['stream_vs_local_ratio'], 3)} | |",
            f"| `jobs2_vs_stream_ratio` | {_fmt(data['jobs2_vs_stream_ratio'], 3)} | |",
            f"| `tempfile_j2_vs_stream_ratio` (temp file worth it if ≤ 0.90) | "
            f"{_fmt(data['tempfile_j2_vs_stream_ratio'], 3)} | "
            f"{'temp file wins' if data['tempfile_wins_by_10pct'] else 'streaming stays'} |",
            f'| RTO vs the manual\'s "database restore only: 15-30 minutes" | {_fmt(rto["execution_s"], 1)} s '
            f"against {low / 60:.0f}-{high / 60:.0f} min | {_fmt(rto['vs_manual_low'], 3)} x the low end |",
            f"| every restore's row counts equal the manifest | "
            f"{sum(len(v) for v in data['runs'].values()) + 1} restores | "
            f"{'PASS' if data['all_counts_ok'] else '**MISS**'} |",
        ]
    )


def restore_section(data: dict[str, Any]) -> str:
    notes = "\n".join(f"* {note}" for note in data.get("notes", []))
    return "\n\n".join(
        [
            RESTORE_BEGIN,
            "## Restore: streamed vs `pg_restore` of a local file, and the RTO",
            machine_line(data),
            "### Ratios and target",
            restore_ratios_table(data),
            "### Results",
            restore_table(data),
            "### Recommendation",
            data["recommendation"],
            "### Notes",
            notes or "* none",
            "### Method",
            RESTORE_METHOD.rstrip(),
            RESTORE_END,
        ]
    )


def write_restore_docs(path: Path, data: dict[str, Any]) -> None:
    _replace_block(path, RESTORE_BEGIN, RESTORE_END, restore_section(data))


# -- cold start ------------------------------------------------------------------------------------
STARTUP_BEGIN = "<!-- bench:startup:begin (written by `make bench`; edits inside are overwritten) -->"
STARTUP_END = "<!-- bench:startup:end -->"


def startup_table(data: dict[str, Any]) -> str:
    imports = data["imports"]
    lines = [
        f"| handler module (tasks) | import, median of {imports['repeat']} (s) | its CPU (s) | without .pyc (s) "
        "| whole `python -c` (s) | RSS after import (MB) | heaviest packages, `-X importtime` self time (s) |",
        "|---|---|---|---|---|---|---|",
        f"| (bare interpreter) | | | | {_fmt(imports['bare_interpreter_wall_s'], 3)} "
        f"| {_fmt(imports['bare_interpreter_rss_mb'], 1)} | |",
    ]
    for module, row in imports["modules"].items():
        top = ", ".join(f"{p['package']} {p['self_s']:.2f}" for p in row["top_imports_importtime"][:5])
        lines.append(
            f"| `{module}` ({', '.join(row['tasks'])}) | {_fmt(row['import_s'], 3)} | "
            f"{_fmt(row.get('import_cpu_s'), 3)} | {_fmt(row.get('import_no_pyc_s'), 3)} | "
            f"{_fmt(row['process_wall_s'], 3)} | {_fmt(row['rss_mb'], 1)} | {top} |"
        )
    return "\n".join(lines)


def asset_table(data: dict[str, Any]) -> str:
    asset = data["imports"].get("deployed_asset") or {}
    rows = asset.get("modules")
    if not rows:
        return str(asset.get("note", ""))
    lines = [
        f"The deployed asset ({asset['asset_mb']} MB unzipped with its bytecode, {asset['asset_without_pyc_mb']} MB "
        f"without), imported by `{asset['python']}`:",
        "",
        "| handler module | with the asset's .pyc (s) | without (s) | with / without |",
        "|---|---|---|---|",
    ]
    for module, row in rows.items():
        ratio = _div(row["pyc_s"], row["no_pyc_s"])
        lines.append(f"| `{module}` | {_fmt(row['pyc_s'], 3)} | {_fmt(row['no_pyc_s'], 3)} | {_fmt(ratio, 2)} |")
    return "\n".join(lines)


def startup_targets_table(data: dict[str, Any]) -> str:
    lines = ["| target | measured | result |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {t['result']} |" for t in data["imports"].get("targets", [])]
    return "\n".join(lines)


def startup_reference(data: dict[str, Any]) -> str:
    imports = data["imports"]
    reference = imports.get("reference")
    if not reference:
        return ""
    floor, client, aws = reference["floor"], reference["first_aws_client"], reference.get("aws_floor")
    load = imports.get("loadavg", {})
    return (
        f"Every handler module starts with `{floor['module']}` (Powertools' Logger, Metrics and Tracer): "
        f"{_fmt(floor['import_s'], 3)} s; every one that makes AWS calls with `{aws['module'] if aws else 'n/a'}` "
        f"(the settings and targets models, botocore patched for X-Ray): {_fmt(aws['import_s'] if aws else None, 3)} "
        "s. Not in the import time: the first invocation's "
        f"boto3 and first client ({_fmt(client['s'], 3)} s), paid by nearly every task. Load average before and "
        f"after: {load.get('before')} / {load.get('after')}."
    )


def transitions_table(data: dict[str, Any]) -> str:
    lines = ["| workflow (successful execution) | state transitions (`*StateEntered` events) |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in data["transitions"].items()]
    return "\n".join(lines)


def startup_section(data: dict[str, Any]) -> str:
    parts = [
        STARTUP_BEGIN,
        "## Cold start and state transitions",
        f"{data['date']}: {data['imports']['definition']}. The environment has `LAMBDA_TASK_ROOT`, the X-Ray "
        "daemon's address and the function factory's variables, so the X-Ray SDK runs in its Lambda mode and the "
        "Tracer patches what it patches when deployed. The import time uses the virtualenv's "
        "`.pyc` files for the dependencies. The deployed asset is measured too (below): bundled as the function "
        "factory builds it, imported by python3.12 from it alone, nothing written (`/var/task` is read-only), "
        "with the bytecode the bundler now compiles (`compileall --invalidation-mode unchecked-hash`) and without "
        "it, as it shipped before. Loaded shared machine: ±20%.",
        "### Targets",
        startup_targets_table(data),
        "### Results",
        startup_table(data),
        asset_table(data),
        startup_reference(data),
        "### State transitions",
        f"State transitions per execution ({data['transitions_source']}):",
        transitions_table(data),
        STARTUP_END,
    ]
    return "\n\n".join(part for part in parts if part)


def write_startup_docs(path: Path, data: dict[str, Any]) -> None:
    _replace_block(path, STARTUP_BEGIN, STARTUP_END, startup_section(data))


# -- update ----------------------------------------------------------------------------------------
UPDATE_BEGIN = "<!-- bench:update:begin (written by `make bench`; edits inside are overwritten) -->"
UPDATE_END = "<!-- bench:update:end -->"


def update_table(data: dict[str, Any]) -> str:
    s = data["summary"]
    rows = [
        ("the manual's rollback procedure typed as one script (baseline)", s["manual_procedure_s"], None),
        ("update rollback, code only: failed verification → previous version verified", s["rollback_code_s"], None),
        ("update rollback with the database: failed verification → restore done", s["rollback_database_s"], None),
        ("… of which the nested restore execution", s["restore_execution_s"], None),
        ("workflow overhead, code only (rollback - baseline)", s["overhead_code_s"], None),
        ("workflow overhead with the database (rollback - baseline - restore)", s["overhead_database_s"], None),
        ("code-only rollback / baseline", None, s["code_vs_manual_procedure_ratio"]),
        ("code-only rollback / the manual's 300 s", None, s["code_vs_manual_figure_ratio"]),
        ("rollback with the database / the manual's 300 s", None, s["database_vs_manual_figure_ratio"]),
        ("longest health-check gap during a good update (workflow)", s["good_update_gap_s"], None),
        ("longest health-check gap during a bare `deploy-automated.sh`", s["bare_deploy_gap_s"], None),
    ]
    lines = ["| measurement | seconds (median) | ratio |", "|---|---|---|"]
    lines += [f"| {what} | {_fmt(sec, 2)} | {_fmt(ratio, 3)} |" for what, sec, ratio in rows]
    return "\n".join(lines)


def update_targets_table(data: dict[str, Any]) -> str:
    lines = ["| target | measured | result |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {t['result']} |" for t in data["summary"]["targets"]]
    return "\n".join(lines)


def update_section(data: dict[str, Any]) -> str:
    from bench.update import __doc__ as method

    notes = "\n".join(f"* {note}" for note in data.get("notes", []))
    return "\n\n".join(
        [
            UPDATE_BEGIN,
            "## Update: rollback time and downtime",
            f"{data['date']}, {data['rounds']} round(s), {data['runtime_s']} s in all.",
            "### Targets",
            update_targets_table(data),
            "### Results",
            update_table(data),
            "### Notes",
            notes or "* none",
            "### Method",
            (method or "").split("\n\n", 1)[-1].rstrip(),
            UPDATE_END,
        ]
    )


def write_update_docs(path: Path, data: dict[str, Any]) -> None:
    _replace_block(path, UPDATE_BEGIN, UPDATE_END, update_section(data))


DR_BEGIN = "<!-- bench:dr:begin (written by `make bench`; edits inside are overwritten) -->"
DR_END = "<!-- bench:dr:end -->"


def dr_table(data: dict[str, Any]) -> str:
    lines = [
        "| database | run | RTO | provisioning (EC2 part) | bootstrap | deploy script | data restore | verification "
        "| DNS | workflow overhead | RPO |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size in data["sizes"]:
        for mode in ("drill", "recover"):
            run = size.get(mode)
            if run is None:
                continue
            lines.append(
                f"| {size['database_mb']:.0f} MB | {mode} | {_fmt(run['rto_s'], 1)} | {_fmt(run['provisioning_s'], 1)} "
                f"({_fmt(run['ec2_s'], 1)}) | {_fmt(run['bootstrap_s'], 1)} | {_fmt(run['deploy_script_s'], 1)} "
                f"| {_fmt(run['data_restore_s'], 1)} | {_fmt(run['verification_s'], 1)} | {_fmt(run['dns_s'], 1)} "
                f"| {_fmt(run['overhead_s'], 1)} | {_fmt(run['rpo_s'], 1)} |"
            )
    return "\n".join(lines)


def dr_targets_table(data: dict[str, Any]) -> str:
    lines = ["| target | measured | result |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {t['result']} |" for t in data["targets"]]
    return "\n".join(lines)


def dr_section(data: dict[str, Any]) -> str:
    from bench.dr import __doc__ as method

    notes = "\n".join(f"* {note}" for note in data.get("notes", []))
    return "\n\n".join(
        [
            DR_BEGIN,
            "## Disaster recovery: the drill's RTO",
            f"{data['date']}, {data['runtime_s']} s in all. Seconds.",
            "### Targets",
            dr_targets_table(data),
            "### Results",
            dr_table(data),
            "### Notes",
            notes or "* none",
            "### Method",
            (method or "").split("\n\n", 1)[-1].rstrip(),
            DR_END,
        ]
    )


def write_dr_docs(path: Path, data: dict[str, Any]) -> None:
    _replace_block(path, DR_BEGIN, DR_END, dr_section(data))


# -- summary: every target with a limit, as a table and a chart ------------------------------------------------
SUMMARY_BEGIN = "<!-- bench:summary:begin (written by `make bench`; edits inside are overwritten) -->"
SUMMARY_END = "<!-- bench:summary:end -->"
CHART = Path("images") / "bench-targets.png"


def write_summary_docs(path: Path, results_dir: Path) -> None:
    """The table of every target with a numeric limit in the results on disk, and its chart next to the doc."""
    from bench import chart

    rows = chart.ratio_rows(results_dir)
    chart.write_png(rows, path.parent / CHART)
    block = "\n\n".join(
        [
            SUMMARY_BEGIN,
            "## Every target at a glance",
            "Each measured value as a fraction of its limit (≤ 1.00: met), from the last run of each part "
            "(`bench/results/*.json`; a part not re-run keeps its earlier figures: see its section's date).",
            f"![measured / limit of every target]({CHART.as_posix()})",
            chart.table(rows),
            SUMMARY_END,
        ]
    )
    _replace_block(path, SUMMARY_BEGIN, SUMMARY_END, block)
