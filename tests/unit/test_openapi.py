"""docs/openapi.json is generated from the code and must be current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_openapi_document_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/openapi.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_every_contract_route_is_documented_with_its_errors() -> None:
    document = json.loads((ROOT / "docs" / "openapi.json").read_text())
    paths = document["paths"]
    assert set(paths) >= {
        "/health",
        "/auth/google/login",
        "/auth/google/callback",
        "/auth/logout",
        "/me",
        "/me/stats",
        "/me/ledger",
        "/images/generate",
        "/images/uploads",
        "/images",
        "/images/{id}",
        "/images/{id}/download",
        "/admin/users",
        "/admin/users/{id}",
        "/admin/images",
        "/admin/users/{id}/coins",
        "/admin/users/{id}/roles/{role}",
    }
    generate = paths["/images/generate"]["post"]
    assert {"202", "401", "402", "409", "422", "429"} <= set(generate["responses"])
    assert generate["requestBody"]["content"]["application/json"]["schema"]["required"] == ["prompt"]
    assert paths["/health"]["get"]["security"] == []
