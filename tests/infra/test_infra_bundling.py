"""The one real bundling run: pip (manylinux, cp312) + our package, without Docker; and what goes into it."""

from __future__ import annotations

import ast
import json
import re
import sys
from importlib.metadata import packages_distributions, requires
from pathlib import Path

import pytest

from app import build_app
from freshtrack_ops.config import DeploymentConfig
from stacks.function_factory import (
    FUNCTIONS_DIR,
    PACKAGE,
    PLATFORMS,
    REQUIREMENTS,
    bytecode_interpreter,
    pip_command,
)

from .conftest import assert_lint_clean

pytestmark = pytest.mark.infra

MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
#: imported only inside functions that run at deployment time, never in Lambda (config.load_deployment_config)
DEPLOY_TIME_ONLY = {"yaml"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pinned() -> set[str]:
    """Distribution names in requirements-lambda.txt (extras dropped)."""
    names = set()
    for raw in REQUIREMENTS.read_text().splitlines():
        line = raw.split("#")[0].strip()
        if line:
            names.add(_canonical(re.split(r"[\[=<>~!; ]", line)[0]))
    return names


def _runtime_imports() -> dict[str, set[str]]:
    """Top-level third-party modules the package imports at run time -> the files importing them.

    Imports under ``if TYPE_CHECKING:`` are skipped (type stubs are never bundled); DEPLOY_TIME_ONLY modules must
    only be imported inside a function."""
    found: dict[str, set[str]] = {}
    for path in sorted((FUNCTIONS_DIR / PACKAGE).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))

        def visit(node: ast.AST, in_function: bool, path: Path = path) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    for orelse in child.orelse:
                        visit(orelse, in_function)
                    continue
                names: list[str] = []
                if isinstance(child, ast.Import):
                    names = [alias.name for alias in child.names]
                elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                    names = [child.module]
                for name in names:
                    top = name.split(".")[0]
                    if top in sys.stdlib_module_names or top in (PACKAGE, "__future__"):
                        continue
                    if top in DEPLOY_TIME_ONLY:
                        assert in_function, f"{path}: {top} must only be imported where deployment code needs it"
                        continue
                    found.setdefault(top, set()).add(str(path.relative_to(FUNCTIONS_DIR)))
                visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef))

        visit(tree, False)
    return found


def test_the_asset_bundles_exactly_the_dependencies_it_imports() -> None:
    """Every runtime import is pinned in requirements-lambda.txt (or a dependency of a pinned package), and
    every pinned package is imported: nothing dead weighs on the asset or on its cold start."""
    distributions = packages_distributions()
    imported = {top: {_canonical(d) for d in distributions.get(top, [])} for top in _runtime_imports()}
    assert all(imported.values()), {top: dists for top, dists in imported.items() if not dists}
    pinned = _pinned()
    transitive = {
        _canonical(re.split(r"[\[=<>~!; (]", requirement)[0])
        for name in pinned
        for requirement in requires(name) or []
        if "extra ==" not in requirement
    }
    for top, dists in imported.items():
        assert dists & (pinned | transitive), f"{top} ({dists}) is imported but not in {REQUIREMENTS.name}"
    directly = set().union(*imported.values())
    assert pinned <= directly, f"pinned but never imported by the asset: {sorted(pinned - directly)}"


def test_the_bytecode_is_compiled_only_by_the_runtimes_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """A .pyc of another minor version would be ignored by the runtime (and cost the asset its size for nothing):
    an interpreter that is not 3.12 is not taken, whatever FRESHTRACK_OPS_PY312 names."""
    monkeypatch.setenv("FRESHTRACK_OPS_PY312", sys.executable)  # the test's own interpreter: 3.11
    assert sys.version_info[:2] != (3, 12) and bytecode_interpreter() is None
    monkeypatch.setenv("FRESHTRACK_OPS_PY312", "/nonexistent/python3.12")
    assert bytecode_interpreter() is None


def test_pip_targets_amazon_linux_2023_too() -> None:
    """python3.12 runs on Amazon Linux 2023 (glibc 2.34): manylinux_2_34 wheels install and run there."""
    assert PLATFORMS == ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
    command = pip_command("/out")
    for platform in PLATFORMS:
        assert command[command.index(platform) - 1] == "--platform"
    assert "--only-binary=:all:" in command and command[command.index("--python-version") + 1] == "3.12"


@pytest.mark.infra
def test_bundles_lambda_asset_for_real(example_config: DeploymentConfig, tmp_path: Path) -> None:
    app = build_app(example_config, outdir=str(tmp_path))
    app.synth()
    manifest = json.loads((tmp_path / f"{example_config.name}ControlPlane.assets.json").read_text())
    zips = [f for f in manifest["files"].values() if f["source"].get("packaging") == "zip"]
    assert len(zips) == 1, "all task functions share one asset"
    asset = tmp_path / zips[0]["source"]["path"]
    assert asset.is_dir()

    assert (asset / "freshtrack_ops" / "handlers" / "backup.py").is_file()
    assert (asset / "freshtrack_ops" / "host_scripts" / "backup_dump.sh").is_file()
    for package in ("paramiko", "pydantic_core", "aws_lambda_powertools", "boto3", "aws_xray_sdk"):
        assert (asset / package).is_dir(), package
    assert list((asset / "pydantic_core").glob("*.cpython-312-x86_64-linux-gnu.so"))
    # nothing the functions never import (psycopg is the local plane's and the tests', not the asset's)
    assert not list(asset.glob("psycopg*"))

    files = [p for p in asset.rglob("*") if p.is_file()]
    bytecode = [p for p in files if p.suffix == ".pyc"]
    if bytecode_interpreter() is not None:
        # every module of ours has its python3.12 bytecode, hash-based and unchecked (PEP 552 flags 0b01): a cold
        # start reads it instead of compiling the source on the read-only /var/task
        for source in (asset / "freshtrack_ops").rglob("*.py"):
            cached = source.parent / "__pycache__" / f"{source.stem}.cpython-312.pyc"
            assert cached.is_file(), source
            assert int.from_bytes(cached.read_bytes()[4:8], "little") == 0b01, cached
        assert list((asset / "pydantic").rglob("*.cpython-312.pyc")), "the dependencies are compiled too"
        assert not [p for p in bytecode if ".cpython-312." not in p.name]
    else:
        assert bytecode == [], "no python3.12 here: the asset ships no bytecode rather than the wrong one"
    assert not [p for p in files if "cpython-311" in p.name or "macosx" in p.name or "win_amd64" in p.name]
    size = sum(p.stat().st_size for p in files)
    print(f"asset {asset.name}: {size / 1e6:.1f} MB unzipped, {len(files)} files")
    assert size < MAX_UNZIPPED_BYTES
    assert_lint_clean(sorted(tmp_path.glob("*.template.json")))  # the templates with the real asset, too
