"""docs/manual-map.md lists every section of the operations manual, and what it cites exists.

The map has one ``##`` group per H2 of the manual, in the manual's order, and in each a table whose rows name a
section of that H2 (``H3``, or ``H3 > H4``), the manual's procedure, what automates it, and how. The "automated by"
cell is a list of clauses separated by ``;`` (the legend is at the top of the map); each clause is checked here
against the code: workflows against ``state_machines/``, settings and schedules against the deployment-config
models, tasks against the task catalog, alarms against the stacks, alert rules against the webhook's default
rules, commands against the Makefile and the opsctl command list below. Links in the map must resolve, anchors
included (GitHub's slugs).

The manual itself lives outside this repository (``reference/operations-manual.md`` beside it, or the file named
by ``FRESHTRACK_OPS_MANUAL``). Where it is found its headings are parsed and must equal ``PINNED_MANUAL_HEADINGS``;
where it is not (a fresh clone), the pinned headings stand in for it.
"""

from __future__ import annotations

import os
import re
import shlex
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import BaseModel

from freshtrack_ops.config import DeploymentConfig, SshTarget
from freshtrack_ops.remediation.settings import DEFAULT_RULES
from freshtrack_ops.tasks import TASKS
from opsctl import cli_reference
from opsctl.inputs import INPUT_MODELS
from stacks.names import camel
from stacks.webhook_names import WEBHOOK_SOURCES

REPO = Path(__file__).resolve().parents[2]
MAP = REPO / "docs" / "manual-map.md"
MANUAL_ENV = "FRESHTRACK_OPS_MANUAL"
MANUAL_CANDIDATES = (
    REPO / "reference" / "operations-manual.md",
    REPO.parent / "shared" / "reference" / "operations-manual.md",
)

#: The manual's H2, H3 and H4 headings (level, text) in order: the stand-in when the manual is not at hand, and
#: checked against it when it is (test_the_pinned_headings_are_the_manual_s). Lines inside code blocks are not
#: headings (the manual's bash comments start with ``#`` too).
PINNED_MANUAL_HEADINGS: tuple[tuple[int, str], ...] = (
    (2, "Table of Contents"),
    (2, "Daily Operations"),
    (3, "Health Checks"),
    (3, "Log Review"),
    (3, "Disk Space"),
    (2, "Application Updates"),
    (3, "Standard Update Procedure"),
    (3, "Updating to Specific Version"),
    (3, "Rollback Procedure"),
    (2, "Database Backups"),
    (3, "Automated Backups"),
    (3, "Manual Backup"),
    (3, "Backup to External Storage"),
    (3, "Restore from Backup"),
    (3, "Test Restoration (Non-Destructive)"),
    (2, "Disaster Recovery"),
    (3, "Recovery Time Objective (RTO)"),
    (3, "Recovery Point Objective (RPO)"),
    (3, "Complete Server Recovery"),
    (2, "Scaling"),
    (3, "Vertical Scaling (Upgrade Server)"),
    (3, "Horizontal Scaling (Multiple Instances)"),
    (3, "Database Scaling"),
    (2, "Monitoring"),
    (3, "Grafana Dashboards"),
    (3, "Prometheus Alerts"),
    (3, "Setting Up External Alerting"),
    (3, "Log Analysis"),
    (2, "Security Maintenance"),
    (3, "SSL Certificate Renewal"),
    (3, "System Updates"),
    (3, "Docker Updates"),
    (3, "Secret Rotation"),
    (3, "Firewall Management (UFW)"),
    (3, "Fail2ban Management"),
    (2, "Service Management"),
    (3, "Starting and Stopping"),
    (3, "Viewing Logs"),
    (3, "Accessing Containers"),
    (3, "Resource Limits"),
    (2, "Troubleshooting"),
    (3, "Common Issues"),
    (4, '"Bad Gateway" (502)'),
    (4, '"Database Connection Error"'),
    (4, "High Memory Usage"),
    (4, "Slow Response Times"),
    (3, "Emergency Procedures"),
    (4, "Emergency Stop"),
    (4, "Emergency Restart"),
    (4, "Force Rebuild"),
    (2, "Quick Reference"),
    (3, "Essential Commands"),
    (3, "Important Paths"),
    (3, "Support Resources"),
)
#: H2s that are not sections of operations: the manual's own index
NOT_SECTIONS = frozenset({"Table of Contents"})
#: H4 headings the map must list: those that are procedures. Every H4 of the manual is one (the troubleshooting
#: symptoms and the emergency procedures), so all are required; name here an H4 that is not.
H4_NOT_PROCEDURES: frozenset[str] = frozenset()

#: every opsctl command and its options, and the global options: read from the typer app itself
OPSCTL_COMMANDS = cli_reference.command_options()
OPSCTL_GLOBAL_OPTIONS = cli_reference.global_options()

SECTION_SEPARATOR = " > "
AUTOMATION_KINDS = ("workflow", "schedule", "setting", "task", "alarm", "alert", "webhook", "command")
LEFT_KINDS = ("person", "not automated")
CLAUSE_PATTERNS: dict[str, re.Pattern[str]] = {
    "workflow": re.compile(r"workflow `([a-z][a-z-]*)`"),
    "schedule": re.compile(r"schedule `([^`]+)`"),
    "setting": re.compile(r"setting `([a-z][a-z0-9_.]*)`"),
    "task": re.compile(r"task `([A-Za-z]\w*)`"),
    "alarm": re.compile(r"alarm `([A-Za-z]\w*)`"),
    "alert": re.compile(r"alert `([A-Za-z_:][\w:]*)` → `([a-z-]+)`"),
    "webhook": re.compile(r"webhook `([A-Za-z]\w*)`"),
    "command": re.compile(r"command `((?:opsctl|make) [^`]+)`"),
    "person": re.compile(r"person: (\S.{9,})"),
    "not automated": re.compile(r"not automated: (\S.{9,})"),
}
#: a ``;`` followed by one of these starts the next clause (a reason may contain ``;`` of its own)
CLAUSE_SPLIT = re.compile(r";\s+(?=(?:" + "|".join(AUTOMATION_KINDS) + r") `|person: |not automated: )")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CRON = re.compile(r"^(cron|rate)\(.+\)$")


def headings(text: str) -> list[tuple[int, str]]:
    """ATX headings (level, text) outside fenced code blocks."""
    found: list[tuple[int, str]] = []
    in_fence = False
    for line in text.splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (link text, no code marks or HTML) lower-cased, every character
    but letters, digits, ``_``, ``-`` and spaces dropped, spaces made hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"<[^>]+>", "", text.replace("`", ""))
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor; a repeated slug gets ``-1``, ``-2``, ... as on GitHub."""
    seen: Counter[str] = Counter()
    found: set[str] = set()
    for _, heading in headings(text):
        slug = github_slug(heading)
        found.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return found


def manual_path() -> Path | None:
    named = os.environ.get(MANUAL_ENV)
    if named:
        return Path(named)
    return next((p for p in MANUAL_CANDIDATES if p.is_file()), None)


@cache
def manual_headings() -> tuple[tuple[int, str], ...]:
    """The manual's H2-H4 headings; the pinned ones where the manual is not at hand."""
    path = manual_path()
    if path is None:
        return PINNED_MANUAL_HEADINGS
    if not path.is_file():
        raise FileNotFoundError(f"{MANUAL_ENV}={path}: no such file")
    return tuple((level, text) for level, text in headings(path.read_text(encoding="utf-8")) if level > 1)


def manual_sections() -> dict[str, list[str]]:
    """Per H2 (the manual's order, its index left out): the sections the map must name, ``H3`` or ``H3 > H4``."""
    sections: dict[str, list[str]] = {}
    h2: str | None = None
    h3: str | None = None
    for level, text in manual_headings():
        if level == 2:
            h2, h3 = (None if text in NOT_SECTIONS else text), None
            if h2 is not None:
                sections[h2] = []
        elif h2 is not None and level == 3:
            h3 = text
            sections[h2].append(text)
        elif h2 is not None and level == 4 and text not in H4_NOT_PROCEDURES:
            sections[h2].append(f"{h3}{SECTION_SEPARATOR}{text}" if h3 else text)
    return sections


@dataclass(frozen=True)
class Row:
    group: str
    section: str
    procedure: str
    automated_by: str
    line: int

    def where(self) -> str:
        return f"docs/manual-map.md:{self.line} ({self.group} > {self.section})"


def cells(line: str) -> list[str]:
    """A table row's cells; ``\\|`` is a pipe inside a cell."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().removeprefix("|").removesuffix("|"))]


@cache
def map_text() -> str:
    return MAP.read_text(encoding="utf-8")


@cache
def map_groups() -> tuple[tuple[str, tuple[Row, ...]], ...]:
    """The map's ``##`` groups in order, each with its table rows (header and separator rows left out)."""
    groups: list[tuple[str, list[Row]]] = []
    in_fence = False
    for number, line in enumerate(map_text().splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        match = HEADING.match(line)
        if match and len(match.group(1)) == 2:
            groups.append((match.group(2), []))
        elif line.startswith("|") and groups:
            row = cells(line)
            if row[0] == "manual section" or set("".join(row)) <= set("-: "):
                continue
            assert len(row) == 4, f"docs/manual-map.md:{number}: {len(row)} cells, expected 4: {line[:80]}"
            groups[-1][1].append(Row(groups[-1][0], row[0], row[1], row[2], number))
    return tuple((name, tuple(rows)) for name, rows in groups)


def rows() -> list[Row]:
    return [row for _, group_rows in map_groups() for row in group_rows]


def clauses(cell: str) -> list[tuple[str, tuple[str, ...]]]:
    """The clauses of an "automated by" cell as (kind, captured values); kind ``?`` for one that is not a clause."""
    parsed: list[tuple[str, tuple[str, ...]]] = []
    for part in CLAUSE_SPLIT.split(cell.strip()):
        kind = next((k for k, pattern in CLAUSE_PATTERNS.items() if pattern.fullmatch(part.strip())), None)
        match = CLAUSE_PATTERNS[kind].fullmatch(part.strip()) if kind else None
        parsed.append((kind, match.groups()) if kind and match else ("?", (part,)))
    return parsed


def cited(kind: str) -> list[tuple[Row, tuple[str, ...]]]:
    return [(row, values) for row in rows() for k, values in clauses(row.automated_by) if k == kind]


def state_machine_file(workflow: str) -> Path:
    return REPO / "state_machines" / f"{workflow.replace('-', '_')}.asl.json"


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (``X``, ``X | None``, ``Annotated[X, ...]``, unions of targets)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = model_of(arg)
        if found is not None:
            return found
    return None


def is_setting(path: str) -> bool:
    """``path`` (dotted) names a field of a target or of the deployment file."""
    for root in (SshTarget, DeploymentConfig):
        model: type[BaseModel] | None = root
        for part in path.split("."):
            if model is None or part not in model.model_fields:
                break
            model = model_of(model.model_fields[part].annotation)
        else:
            return True
    return False


@cache
def source_text(*folders: str) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for folder in folders for p in sorted((REPO / folder).rglob("*.py")))


@cache
def alarm_sources() -> str:
    """The stacks' modules that create CloudWatch alarms."""
    return "\n".join(
        text
        for p in sorted((REPO / "stacks").glob("*.py"))
        if "cloudwatch.Alarm(" in (text := p.read_text(encoding="utf-8"))
    )


@cache
def make_targets() -> frozenset[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    return frozenset(re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, flags=re.MULTILINE))


def commands(program: str) -> list[str]:
    """Every ``program ...`` command in a code span of the map (the bare name alone is a name, not a command)."""
    return re.findall(rf"`({program} [^`]+)`", map_text())


def opsctl_problems(command: str) -> list[str]:
    """What is wrong with one ``opsctl ...`` command line against the CLI's commands and their options."""
    words = shlex.split(command)[1:]
    rest: list[str] = []
    skip = False
    for word in words:  # global options may come anywhere
        if skip:
            skip = False
        elif word in OPSCTL_GLOBAL_OPTIONS:
            skip = OPSCTL_GLOBAL_OPTIONS[word]
        else:
            rest.append(word)
    if not rest:
        return [f"{command!r}: no command"]
    name = " ".join(rest[:2]) if " ".join(rest[:2]) in OPSCTL_COMMANDS else rest[0]
    if name not in OPSCTL_COMMANDS:
        return [f"{command!r}: {name!r} is not an opsctl command ({', '.join(sorted(OPSCTL_COMMANDS))})"]
    if name == "schema" and (len(rest) < 2 or rest[1] not in INPUT_MODELS):
        return [f"{command!r}: not a workflow ({', '.join(sorted(INPUT_MODELS))})"]
    allowed = OPSCTL_COMMANDS[name]
    return [
        f"{command!r}: {name} takes no option {option} (options: {sorted(allowed)})"
        for option in rest[len(name.split()) :]
        if option.startswith("-") and option not in allowed
    ]


# --- the helpers themselves ----------------------------------------------------------------------------------------


def test_headings_in_code_blocks_are_not_headings() -> None:
    text = "# Title\n\n## A\n\n```bash\n# a comment\n## not either\n```\n\n### B ###\n"
    assert headings(text) == [(1, "Title"), (2, "A"), (3, "B")]


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("`backup` (`BackupSettings`)", "backup-backupsettings"),
        ("The firewall's expected rules", "the-firewalls-expected-rules"),
        (
            "Restore: streamed vs `pg_restore` of a local file, and the RTO",
            "restore-streamed-vs-pg_restore-of-a-local-file-and-the-rto",
        ),
        (
            "The test-restore workflow (`state_machines/test_restore.asl.json`)",
            "the-test-restore-workflow-state_machinestest_restoreasljson",
        ),
        ('"Bad Gateway" (502)', "bad-gateway-502"),
    ],
)
def test_github_slug(heading: str, slug: str) -> None:
    assert github_slug(heading) == slug


def test_repeated_headings_get_numbered_anchors() -> None:
    assert anchors("## Notes\n## Notes\n## Notes\n") == {"notes", "notes-1", "notes-2"}


def test_a_cell_splits_into_clauses_but_a_reason_keeps_its_semicolons() -> None:
    cell = "workflow `backup`; alert `DiskSpaceLow` → `disk-cleanup`; person: a decision; nothing to run here"
    assert clauses(cell) == [
        ("workflow", ("backup",)),
        ("alert", ("DiskSpaceLow", "disk-cleanup")),
        ("person", ("a decision; nothing to run here",)),
    ]
    assert clauses("the backup workflow")[0][0] == "?"


def test_opsctl_commands_are_checked_against_the_list_and_the_inputs() -> None:
    assert opsctl_problems("opsctl --json start restore --host H --backup-id latest-verified --confirm db") == []
    assert opsctl_problems("opsctl --stack Prod local up") == []
    assert opsctl_problems("opsctl start backup --host H --no-such-field x")
    assert opsctl_problems("opsctl start no-such-workflow --host H")
    assert opsctl_problems("opsctl local sideways")
    assert opsctl_problems("opsctl backups --workflow backup")


# --- the manual and the map ----------------------------------------------------------------------------------------


def test_the_pinned_headings_are_the_manual_s() -> None:
    path = manual_path()
    if path is None:
        pytest.skip(f"the operations manual is not here ({MANUAL_ENV}, or {', '.join(map(str, MANUAL_CANDIDATES))})")
    assert manual_headings() == PINNED_MANUAL_HEADINGS, (
        f"{path}'s headings changed: update PINNED_MANUAL_HEADINGS and docs/manual-map.md"
    )


def test_without_the_manual_the_pinned_headings_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MANUAL_ENV, raising=False)
    monkeypatch.setattr(f"{__name__}.MANUAL_CANDIDATES", (REPO / "no-such-dir" / "operations-manual.md",))
    manual_headings.cache_clear()
    try:
        assert manual_path() is None
        assert manual_headings() == PINNED_MANUAL_HEADINGS
        assert len(manual_sections()) == 10
        assert manual_sections()["Troubleshooting"][1] == 'Common Issues > "Bad Gateway" (502)'
    finally:
        manual_headings.cache_clear()


def test_the_map_is_grouped_by_the_manual_s_h2_in_its_order() -> None:
    assert [name for name, _ in map_groups()] == list(manual_sections())


def test_every_section_of_the_manual_is_in_the_map() -> None:
    groups = dict(map_groups())
    missing = [
        f"{h2}{SECTION_SEPARATOR}{section}"
        for h2, sections in manual_sections().items()
        for section in sections
        if section not in {row.section for row in groups.get(h2, ())}
    ]
    assert not missing, "sections of the manual missing from docs/manual-map.md:\n  " + "\n  ".join(missing)


def test_every_row_names_a_section_of_its_group() -> None:
    sections = manual_sections()
    strangers = [row.where() for row in rows() if row.section not in sections.get(row.group, ())]
    assert not strangers, "rows naming no section of the manual's H2 they are under:\n  " + "\n  ".join(strangers)


def test_every_row_says_what_automates_it_or_why_a_person_does_it() -> None:
    problems: list[str] = []
    for row in rows():
        parsed = clauses(row.automated_by)
        kinds = [kind for kind, _ in parsed]
        if not row.procedure:
            problems.append(f"{row.where()}: no procedure")
        if "?" in kinds:
            bad = [values[0] for kind, values in parsed if kind == "?"]
            problems.append(f"{row.where()}: not a clause (or a reason under 10 characters): {bad}")
        first_left = next((i for i, kind in enumerate(kinds) if kind in LEFT_KINDS), len(kinds))
        if any(kind not in LEFT_KINDS for kind in kinds[first_left:]):
            problems.append(f"{row.where()}: person:/not automated: clauses come last")
    assert not problems, "\n".join(problems)


def test_every_cited_workflow_is_a_state_machine() -> None:
    names = {values[0] for _, values in cited("workflow")}
    names |= set(re.findall(r"`([a-z][a-z-]*)` workflow", map_text()))
    names |= {shlex.split(c)[2] for c in commands("opsctl") if shlex.split(c)[1:2] in (["start"], ["schema"])}
    missing = sorted(n for n in names if not state_machine_file(n).is_file())
    assert not missing, f"workflows cited without a state machine file in state_machines/: {missing}"


def test_every_cited_setting_and_schedule_exists() -> None:
    problems = [f"{row.where()}: setting {v[0]!r} is no field" for row, v in cited("setting") if not is_setting(v[0])]
    code = source_text("stacks", "functions/freshtrack_ops")
    for row, (schedule,) in cited("schedule"):
        if CRON.match(schedule):
            if schedule not in code:
                problems.append(f"{row.where()}: schedule {schedule!r} is in no stack or task")
        elif not (is_setting(schedule) and "schedule" in schedule.rsplit(".", 1)[-1]):
            problems.append(f"{row.where()}: schedule {schedule!r} is neither a schedule setting nor an expression")
    assert not problems, "\n".join(problems)


def test_every_cited_task_alarm_alert_rule_and_webhook_exists() -> None:
    problems = [f"{row.where()}: task {v[0]!r} is not in TASKS" for row, v in cited("task") if v[0] not in TASKS]
    problems += [
        f"{row.where()}: alarm {v[0]!r} is in no stack module that creates alarms"
        for row, v in cited("alarm")
        if f'"{v[0]}"' not in alarm_sources()
    ]
    rules = {(rule.alert, rule.action) for rule in DEFAULT_RULES}
    problems += [
        f"{row.where()}: alert {alert} → {action} is not a default rule ({sorted(rules)})"
        for row, (alert, action) in cited("alert")
        if (alert, action) not in rules
    ]
    outputs = {f"{camel(source)}WebhookUrl" for source in WEBHOOK_SOURCES}
    problems += [
        f"{row.where()}: webhook {v[0]!r} is no stack output" for row, v in cited("webhook") if v[0] not in outputs
    ]
    assert not problems, "\n".join(problems)


def test_every_relative_link_resolves() -> None:
    problems: list[str] = []
    for target in LINK.findall(map_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        path = (MAP.parent / path_part).resolve() if path_part else MAP
        if not path.exists():
            problems.append(f"{target}: no such file")
        elif anchor and (path.is_dir() or anchor not in anchors(path.read_text(encoding="utf-8"))):
            problems.append(f"{target}: no heading of {path.relative_to(REPO)} has the anchor #{anchor}")
    assert not problems, "broken links in docs/manual-map.md:\n  " + "\n  ".join(problems)


def test_every_make_target_exists() -> None:
    missing = sorted({c.split()[1] for c in commands("make")} - make_targets())
    assert not missing, f"make targets cited that the Makefile does not have: {missing}"


def test_every_opsctl_command_is_in_the_cli() -> None:
    cited_commands = commands("opsctl")
    assert cited_commands, "the map cites no opsctl command"
    problems = [problem for command in cited_commands for problem in opsctl_problems(command)]
    assert not problems, "\n".join(problems)
