"""The import contract (pyproject.toml, [tool.importlinter]) holds for the package, and a copy of
the package with one wrong import breaks it, naming the contract and the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
LAYERS = "Entry points over domains over adapters and the shared core"
NO_DOMAIN = "Adapters, the sandbox and the web layer import no domain"
INDEPENDENT = "The two domains are independent of each other"


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` over `project`'s pyproject.toml, importing the package from its src/."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_contract_holds() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the package and its contract, to break."""
    shutil.copytree(
        ROOT / "src" / "arenabrain",
        tmp_path / "src" / "arenabrain",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    shutil.copyfile(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


# (the module written, its one import, the contracts it breaks, the import as reported)
WRONG_IMPORTS = [
    (
        "clients/wrong.py",
        "from arenabrain.credits import models",
        {LAYERS, NO_DOMAIN},
        "arenabrain.clients.wrong -> arenabrain.credits.models",
    ),
    (
        "db/wrong.py",
        "import arenabrain.arena.models",
        {LAYERS, NO_DOMAIN},
        "arenabrain.db.wrong -> arenabrain.arena.models",
    ),
    (
        "sandbox/wrong.py",
        "from arenabrain.credits import schemas",
        {LAYERS, NO_DOMAIN},
        "arenabrain.sandbox.wrong -> arenabrain.credits.schemas",
    ),
    (
        "web/wrong.py",
        "from arenabrain.arena import system_logs",
        {LAYERS, NO_DOMAIN},
        "arenabrain.web.wrong -> arenabrain.arena.system_logs",
    ),
    (
        "arena/wrong.py",
        "from arenabrain.credits import jobs",
        {LAYERS, INDEPENDENT},
        "arenabrain.arena.wrong -> arenabrain.credits.jobs",
    ),
    (
        "credits/wrong.py",
        "from arenabrain import cli",
        {LAYERS, INDEPENDENT},  # the CLI reaches the arena: an indirect import counts
        "arenabrain.credits.wrong -> arenabrain.cli",
    ),
    (
        "arena/wrong.py",
        "from arenabrain.scheduler import run_job",
        {LAYERS},
        "arenabrain.arena.wrong -> arenabrain.scheduler",
    ),
    (
        "settings_wrong.py",  # a new top-level module the contract does not place
        "x = 1",
        {LAYERS},
        "- arenabrain.settings_wrong",
    ),
]


@pytest.mark.parametrize(
    ("module", "line", "broken", "reported"), WRONG_IMPORTS, ids=[w[3] for w in WRONG_IMPORTS]
)
def test_a_wrong_import_breaks_the_contract_and_is_named(
    project: Path, module: str, line: str, broken: set[str], reported: str
) -> None:
    (project / "src" / "arenabrain" / module).write_text(f'"""Wrong on purpose."""\n\n{line}\n')
    result = lint_imports(project)
    assert result.returncode == 1, result.stdout + result.stderr
    for name in (LAYERS, NO_DOMAIN, INDEPENDENT):
        verdict = "BROKEN" if name in broken else "KEPT"
        assert f"{name} {verdict}" in result.stdout, result.stdout
    assert reported in result.stdout
