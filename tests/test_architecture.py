"""The house rules a change must keep, checked on every run: each layer imports only the
layers below it and no package's modules import each other in a circle (`.importlinter`,
read by import-linter), and no import hides inside a function, where it could hide a cycle
from that check."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache", ".importlinter"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_no_import_inside_a_function() -> None:
    found = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        if "migrations" in path.parts:
            continue  # Alembic's revision files are scripts run by Alembic
        tree = ast.parse(path.read_text(), filename=str(path))
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(function):
                    if isinstance(node, ast.Import | ast.ImportFrom):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} in {function.name}()")
    assert found == [], "imports inside functions (move them to the top of the module):\n" + "\n".join(found)
