"""README.md, run: every fenced block from a fresh venv, exactly as written, except those marked not run.

A block preceded by ``<!-- not run: REASON -->`` is not run. ``NOT_RUN`` below names each such block (by its
first line), so marking a block is a decision recorded here, never a quiet way to stop a broken command from
failing. Inline code in the prose names things (files, fields, targets); the commands to type are fenced blocks.

"A fresh venv": ``python -m venv`` in a scratch directory, with this checkout installed into it by the command
``make venv`` uses (``pip install -q --no-deps -e .``). Its pinned dependencies come from the venv running the
tests, through a ``.pth`` line naming that venv's site-packages: a directory named in a .pth file joins
sys.path, but the .pth files inside it are not processed, so that venv's own editable install (of this or of
another checkout) plays no part. The blocks run in the scratch directory, whose only entry is ``.venv``, with
PYTHONPATH removed from the environment: nothing can come from a working directory or a path setting, so what
passes here passes in a clone after ``make``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
#: the project's install command, as the Makefile's venv recipe runs it (test_the_makefile_installs_... checks)
INSTALL = ("pip", "install", "-q", "--no-deps", "-e", ".")

#: where the blocks' `opsctl --local` keeps its background plane (under the scratch directory)
LOCAL_PLANE_DIR = "local-plane"
#: the blocks deliberately not run (first line -> why); the README's markers must agree with this
NOT_RUN = {
    "make demo": "make test",  # make test runs this test; the demo takes a minute, tests/integration covers it
    "make synth": "parts of `make test`",  # lint/unit/integration/infra run in make test; synth bundles; bench
    "make synth CONFIG=my-deployment.yaml": "AWS credentials",
    "opsctl start backup": "AWS credentials",
    "opsctl start update": "AWS credentials",
    "opsctl approve": "AWS credentials",
}
#: what each block that runs must show on stdout (it must also exit 0)
EXPECTED = {
    # the local plane is started by the first command, in the background, and stopped by the last
    ".venv/bin/opsctl --local start backup": ["=> SUCCEEDED", "backup_id: demo-", "unverified", "local plane stopped"],
    "from opsctl.local import LocalPlane": ["README checks passed"],
}
#: appended to a Python block: what its variables must hold when it ends (the block itself only shows them)
PYTHON_CHECKS = {
    "from opsctl.local import LocalPlane": (
        'assert ex.status == "SUCCEEDED", (ex.error, ex.cause)\n'
        'assert over_ssm.status == "SUCCEEDED", (over_ssm.error, over_ssm.cause)\n'
        "assert rows[0][0] > 0, rows\n"
        'print("README checks passed")\n'
    ),
}

_FENCE_OPEN = re.compile(r"^```([A-Za-z0-9_-]*)\s*$")
_NOT_RUN = re.compile(r"^<!--\s*not run:\s*(?P<reason>.+?)\s*-->$")


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int  # 1-based line of the opening fence
    not_run: str | None  # the marker's reason

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0] if self.text else ""


def readme_blocks(markdown: str) -> list[Block]:
    """The fenced blocks of ``markdown`` with the ``not run`` reason of the marker right before each (if any)."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        opened = _FENCE_OPEN.match(lines[index])
        if not opened:
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].rstrip() == "```"), None)
        assert end is not None, f"README line {index + 1}: unclosed code block"
        previous = next((lines[j].strip() for j in range(index - 1, -1, -1) if lines[j].strip()), "")
        marker = _NOT_RUN.match(previous)
        blocks.append(
            Block(
                language=opened.group(1),
                text="\n".join(lines[index + 1 : end]) + "\n",
                line=index + 1,
                not_run=marker.group("reason") if marker else None,
            )
        )
        index = end + 1
    return blocks


def _key(block: Block, table: dict[str, object]) -> str | None:
    """The entry of ``table`` naming ``block``: the longest key its first line starts with."""
    keys = [key for key in table if block.first_line.startswith(key)]
    return max(keys, key=len) if keys else None


# -- the fresh venv ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding only ``.venv``: a new venv with this checkout installed (editable)."""
    root = tmp_path_factory.mktemp("readme")
    venv = root / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(purelib) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    installed = subprocess.run(
        [sys.executable, "-m", INSTALL[0], "--python", str(python), *INSTALL[1:-1], str(REPO)],
        capture_output=True, text=True, check=False, env=_clean_env(),
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-4000:]
    return root


def _clean_env() -> dict[str, str]:
    """The environment minus whatever would point Python at modules: only the venv may provide them."""
    dropped = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE"}
    return {key: value for key, value in os.environ.items() if key not in dropped}


def run_block(block: Block, cwd: Path, timeout_s: float = 240) -> subprocess.CompletedProcess[str]:
    """Run one block as a reader would paste it: bash with aliases (as in an interactive shell), or Python."""
    if block.language in ("bash", "sh", "shell"):
        argv = ["bash", "-e", "-o", "pipefail", "-O", "expand_aliases", "-s"]
        source = block.text
    elif block.language == "python":
        argv = [str(cwd / ".venv" / "bin" / "python"), "-"]
        key = _key(block, dict(PYTHON_CHECKS))
        source = block.text + ("\n" + PYTHON_CHECKS[key] if key else "")
    else:
        raise AssertionError(f"README line {block.line}: no way to run a {block.language!r} block")
    # `opsctl --local` keeps its plane's files here, not in the home directory (a plane the reader runs is not this one)
    env = _clean_env() | {"FRESHTRACK_OPS_LOCAL_DIR": str(cwd / LOCAL_PLANE_DIR)}
    try:
        return subprocess.run(
            argv, input=source, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    finally:
        from opsctl.local import daemon

        daemon.stop(cwd / LOCAL_PLANE_DIR)  # a block that failed before its `opsctl local down` leaves none running


# -- the README -------------------------------------------------------------------------------------------------
def test_every_block_not_run_is_named_here_with_its_reason() -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "no code blocks found in README.md"
    marked = {_key(b, dict(NOT_RUN)) or b.first_line: b.not_run for b in blocks if b.not_run is not None}
    assert set(marked) == set(NOT_RUN), "README's `not run` markers and NOT_RUN disagree"
    for key, reason in marked.items():
        assert reason and NOT_RUN[key] in reason, f"{key!r}: the README gives {reason!r}"
    for block in blocks:
        if block.not_run is None:
            assert _key(block, dict(EXPECTED)), f"README line {block.line}: say in EXPECTED what the block shows"


def _run_blocks() -> list[Block]:
    return [b for b in readme_blocks(README.read_text(encoding="utf-8")) if b.not_run is None]


@pytest.mark.parametrize("block", _run_blocks(), ids=lambda b: f"line{b.line}-{b.language}")
def test_readme_block_runs_as_written(block: Block, scratch: Path) -> None:
    result = run_block(block, scratch)
    assert result.returncode == 0, f"README line {block.line} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    key = _key(block, dict(EXPECTED))
    assert key is not None
    for text in EXPECTED[key]:
        assert text in result.stdout, f"README line {block.line}: {text!r} not in its output:\n{result.stdout[-3000:]}"


def test_a_broken_block_fails(scratch: Path) -> None:
    """The runner reports a block that breaks (so a README test cannot pass by running nothing)."""
    broken_shell = Block("bash", "alias opsctl='.venv/bin/python -m opsctl'\nopsctl schema no-such-workflow\n", 1, None)
    assert run_block(broken_shell, scratch).returncode != 0
    stops_midway = Block("bash", "false\necho unreachable\n", 1, None)
    result = run_block(stops_midway, scratch)
    assert result.returncode != 0 and "unreachable" not in result.stdout
    broken_python = Block("python", "from opsctl.local import NoSuchThing\n", 1, None)
    assert run_block(broken_python, scratch).returncode != 0


def test_markers_apply_to_the_next_block_only() -> None:
    text = "<!-- not run: needs AWS credentials -->\n```bash\naws s3 ls\n```\n\n```python\nprint(1)\n```\n"
    first, second = readme_blocks(text)
    assert (first.not_run, first.text, first.line) == ("needs AWS credentials", "aws s3 ls\n", 2)
    assert (second.not_run, second.language, second.first_line) == (None, "python", "print(1)")


# -- the package in the venv ------------------------------------------------------------------------------------
def test_the_fresh_venv_runs_the_package_without_pythonpath(scratch: Path) -> None:
    """opsctl (console script and -m), python -m bench and the imports the README shows, from this checkout."""
    bin_dir = scratch / ".venv" / "bin"
    env = _clean_env()
    for argv in (
        [str(bin_dir / "opsctl"), "--help"],
        [str(bin_dir / "python"), "-m", "opsctl", "--help"],
        [str(bin_dir / "python"), "-m", "bench", "--help"],
    ):
        result = subprocess.run(argv, cwd=scratch, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, (argv, result.stderr[-3000:])
        assert "usage:" in result.stdout.lower()
    code = (
        "import json, bench, freshtrack_ops, opsctl, stacks, state_machines\n"
        "from opsctl.local import LocalPlane\n"
        "print(json.dumps({m.__name__: m.__file__ for m in (bench, freshtrack_ops, opsctl, stacks, state_machines)}"
        " | {'LocalPlane': LocalPlane.__module__}))\n"
    )
    result = subprocess.run(
        [str(bin_dir / "python"), "-c", code], cwd=scratch, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout)
    assert found == {
        "bench": str(REPO / "bench" / "__init__.py"),
        "freshtrack_ops": str(REPO / "functions" / "freshtrack_ops" / "__init__.py"),
        "opsctl": str(REPO / "opsctl" / "__init__.py"),
        "stacks": str(REPO / "stacks" / "__init__.py"),
        "state_machines": str(REPO / "state_machines" / "__init__.py"),
        "LocalPlane": "opsctl.local.plane",
    }


def test_the_makefile_installs_the_project_and_sets_no_pythonpath() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert f"$(PY) -m {' '.join(INSTALL)}" in makefile, "the venv recipe and this test install alike"
    assert not re.search(r"PYTHONPATH\s*[:?+]?=", makefile), "make must not need PYTHONPATH"
