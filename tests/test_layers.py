"""The import graph the README states, enforced by import-linter's contracts in pyproject.toml:
`cli` above `service | etl | jobs` (independent of each other) above the core `customers`, no
cycles inside any package, the terminal and the web stack each in their own folders."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("cli", "service", "etl", "jobs", "customers")
LAYERS = "cli above service | etl | jobs (independent) above customers"
ACYCLIC = "no import cycles inside any package"
TERMINAL = "only cli speaks to the terminal (click, rich)"
WEB = "only service and cli know the web stack (fastapi, starlette, uvicorn)"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over the packages under `root`, with the contracts of its pyproject.toml."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache", "--no-logo"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_are_kept() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and the contracts, to break."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    ("module", "planted", "contract", "reported"),
    [
        ("customers/planted.py", "import etl\n", LAYERS, "customers.planted -> etl"),
        # an import inside a function is an import all the same
        ("customers/planted.py", "def later():\n    import cli.main\n", LAYERS, "customers.planted -> cli.main"),
        ("service/planted.py", "from jobs import admin\n", LAYERS, "service.planted -> jobs.admin"),
        ("jobs/planted.py", "import etl.load\n", LAYERS, "jobs.planted -> etl.load"),
        # errors is imported by store: importing store back closes a cycle
        ("customers/errors.py", "\nimport customers.store\n", ACYCLIC, "- .errors -> .store"),
        ("etl/planted.py", "import click\n", TERMINAL, "etl.planted -> click"),
        ("customers/planted.py", "import fastapi\n", WEB, "customers.planted -> fastapi"),
    ],
)
def test_a_planted_violation_breaks_its_contract(
    tree: Path, module: str, planted: str, contract: str, reported: str
) -> None:
    with (tree / module).open("a", encoding="utf-8") as source:
        source.write(planted)
    result = lint_imports(tree)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{contract} BROKEN" in result.stdout, result.stdout
    assert reported in result.stdout, result.stdout
