"""The one real bundling run: pip (manylinux, cp312) + our package, without Docker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import build_app
from freshtrack_ops.config import DeploymentConfig

pytestmark = pytest.mark.infra

MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


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
    for package in ("paramiko", "pydantic_core", "aws_lambda_powertools", "psycopg", "boto3"):
        assert (asset / package).is_dir(), package
    assert list((asset / "pydantic_core").glob("*.cpython-312-x86_64-linux-gnu.so"))
    assert list(asset.glob("psycopg_binary/*.cpython-312-x86_64-linux-gnu.so"))

    files = [p for p in asset.rglob("*") if p.is_file()]
    assert not [p for p in files if "__pycache__" in p.parts or p.suffix == ".pyc"]
    assert not [p for p in files if "cpython-311" in p.name or "macosx" in p.name or "win_amd64" in p.name]
    size = sum(p.stat().st_size for p in files)
    print(f"asset {asset.name}: {size / 1e6:.1f} MB unzipped, {len(files)} files")
    assert size < MAX_UNZIPPED_BYTES
