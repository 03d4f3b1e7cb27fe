"""The layer imports only what ships with it: a module of ``layers/shared/imagegen`` may import the standard
library, ``imagegen`` itself, the distributions of ``layers/shared/requirements.txt`` and what the Lambda
Python runtime provides. Anything else (moto, yaml, devstack, a test helper) would work in the tests and
fail on Lambda with ModuleNotFoundError.

Every ``import``/``from`` statement counts, also those inside functions (imported on first use). Under
``if TYPE_CHECKING:`` typing-only stub packages (``mypy_boto3_*``) are allowed too: they never run.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "shared"
PACKAGE = LAYER / "imagegen"

# Distribution name (normalized) -> the top-level import names it provides, where they differ from the name.
IMPORT_NAMES: dict[str, tuple[str, ...]] = {
    "aws-lambda-powertools": ("aws_lambda_powertools",),
    "aws-xray-sdk": ("aws_xray_sdk",),
    "pillow": ("PIL",),
    "pyjwt": ("jwt",),
}
# What the Lambda Python runtime provides (the layer's Makefile drops these from the layer).
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3"})
# Stub-only packages: importable by the type checker, absent at run time.
TYPING_ONLY_PREFIXES = ("mypy_boto3_",)


def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def requirement_imports(requirements: Path) -> frozenset[str]:
    """The top-level import names of the distributions listed in a requirements file."""
    names: set[str] = set()
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        assert match, f"cannot read the requirement {raw!r}"
        distribution = _normalized(match.group(0))
        names.update(IMPORT_NAMES.get(distribution, (distribution.replace("-", "_"),)))
    return frozenset(names)


def allowed_imports() -> frozenset[str]:
    return (
        frozenset(sys.stdlib_module_names)
        | {"imagegen"}
        | requirement_imports(LAYER / "requirements.txt")
        | RUNTIME_PROVIDED
    )


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(source: str, filename: str = "<source>") -> list[tuple[int, str, bool]]:
    """``(line, top-level module, under TYPE_CHECKING)`` for every absolute import, wherever it stands."""
    found: list[tuple[int, str, bool]] = []

    def visit(node: ast.AST, typing_only: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name.split(".")[0], typing_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:  # relative imports stay inside the package
                found.append((node.lineno, node.module.split(".")[0], typing_only))
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, typing_only)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, typing_only)

    visit(ast.parse(source, filename=filename), False)
    return found


def boundary_violations(source: str, filename: str = "<source>") -> list[str]:
    """``"file:line imports name"`` for each import the layer cannot satisfy on Lambda."""
    allowed = allowed_imports()
    violations = []
    for line, module, typing_only in imported_modules(source, filename):
        if module in allowed or (typing_only and module.startswith(TYPING_ONLY_PREFIXES)):
            continue
        violations.append(f"{filename}:{line} imports {module}")
    return violations


def test_the_layer_imports_only_what_ships_with_it() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 20
    violations = [
        violation
        for path in modules
        for violation in boundary_violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    ]
    assert not violations, "the layer imports what it does not ship:\n" + "\n".join(violations)


def test_the_requirements_map_to_their_import_names() -> None:
    names = requirement_imports(LAYER / "requirements.txt")
    assert {"aws_lambda_powertools", "aws_xray_sdk", "PIL", "jwt", "pynamodb"} <= names
    assert "pillow" not in names and "pyjwt" not in names


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import moto\n", ["<source>:1 imports moto"]),
        ("from yaml import safe_load\n", ["<source>:1 imports yaml"]),
        ("def later():\n    from devstack.template import ensure_table\n", ["<source>:2 imports devstack"]),
        ("import mypy_boto3_s3\n", ["<source>:1 imports mypy_boto3_s3"]),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import yaml\nelse:\n    import moto\n",
            ["<source>:3 imports yaml", "<source>:5 imports moto"],
        ),
    ],
)
def test_the_check_catches_imports_from_outside_the_layer(source: str, expected: list[str]) -> None:
    assert boundary_violations(source) == expected


def test_the_check_allows_what_the_layer_and_the_runtime_provide() -> None:
    source = (
        "from __future__ import annotations\n"
        "import json, os.path\n"
        "import typing\n"
        "from . import models\n"
        "from imagegen.errors import DomainError\n"
        "import boto3\n"
        "from dateutil import tz\n"
        "from PIL import Image\n"
        "def verify():\n"
        "    import jwt\n"
        "if typing.TYPE_CHECKING:\n"
        "    from mypy_boto3_dynamodb import DynamoDBClient\n"
    )
    assert boundary_violations(source) == []
