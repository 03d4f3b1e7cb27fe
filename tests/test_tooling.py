"""The developer tooling: the interpreter finder that setup and `make build` rely on, and the SAM
CLI defaults that `sam deploy --guided` starts from."""

from __future__ import annotations

import os
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_find_python312_prints_a_runnable_312_interpreter() -> None:
    found = subprocess.run(
        [str(ROOT / "scripts" / "find-python312.sh")], capture_output=True, text=True, check=True, timeout=60
    )
    path = found.stdout.strip()
    assert os.path.isabs(path), found.stdout
    assert "/shims/" not in path  # a pyenv shim may refuse to run 3.12; the real interpreter never does
    version = subprocess.run(
        [path, "-c", "import sys; print(sys.version_info[:2] == (3, 12), sys.prefix == sys.base_prefix)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert version.stdout.split() == ["True", "True"]  # 3.12, and not some virtual environment's


def test_find_python312_fails_clearly_when_there_is_none(tmp_path: Path) -> None:
    # A bare PATH and an empty HOME and PYENV_ROOT hide every candidate but /usr/bin/python3.12.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYENV_ROOT": str(tmp_path)}
    result = subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "find-python312.sh")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    if os.access("/usr/bin/python3.12", os.X_OK):
        assert result.returncode == 0 and result.stdout.strip()
    else:
        assert result.returncode != 0
        assert "no Python 3.12 interpreter found" in result.stderr


def test_samconfig_has_the_deploy_defaults() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    deploy = config["default"]["deploy"]["parameters"]
    assert deploy["stack_name"] == "imagegen"
    assert deploy["capabilities"].split() == ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    assert deploy["resolve_s3"] is True
    assert deploy["confirm_changeset"] is True
