"""The package's structure: the import-linter contracts of pyproject.toml hold, and no module imports another
module's private names."""

from __future__ import annotations

import ast
from pathlib import Path

from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parents[2]
PACKAGES = [REPO / "include" / "listings", REPO / "include" / "listings_dev"]


def test_the_import_contracts_hold() -> None:
    # (layers: entry points > admin > orchestration > pipeline > catalogue > matching > images/geocode/
    # validation > config > sources > transform/storage/db > settings; the runtime never imports listings_dev)
    assert lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True) == 0


def _private_imports(path: Path, module: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] in ("listings", "listings_dev")
            and node.module != module
        ):
            found += [
                f"{module}: from {node.module} import {a.name}" for a in node.names if a.name.startswith("_")
            ]
    return found


def test_no_module_imports_another_modules_private_names() -> None:
    found = []
    for package in PACKAGES:
        for path in package.rglob("*.py"):
            module = ".".join(path.relative_to(REPO / "include").with_suffix("").parts).removesuffix(
                ".__init__"
            )
            found += _private_imports(path, module)
    assert found == []


def test_the_private_import_check_sees_one(tmp_path: Path) -> None:
    path = tmp_path / "m.py"
    path.write_text("from listings.pipeline.steps import _put_once\nfrom listings.storage import get_store\n")
    assert _private_imports(path, "listings.matching.m") == [
        "listings.matching.m: from listings.pipeline.steps import _put_once"
    ]
