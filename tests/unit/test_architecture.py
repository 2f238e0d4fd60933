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


def _is_module(dotted: str) -> bool:
    path = REPO / "include" / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def _private_imports(path: Path, module: str) -> list[str]:
    """`from listings.x import _name`, and `x._name` where `x` is another module of ours it imported."""
    found = []
    modules: dict[str, str] = {}  # local name -> module of ours
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] not in ("listings", "listings_dev"):
                continue
            for a in node.names:
                if _is_module(f"{node.module}.{a.name}"):
                    modules[a.asname or a.name] = f"{node.module}.{a.name}"
                elif a.name.startswith("_") and node.module != module:
                    found.append(f"{module}: from {node.module} import {a.name}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in ("listings", "listings_dev") and a.asname:
                    modules[a.asname] = a.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and modules[node.value.id] != module
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{module}: {modules[node.value.id]}.{node.attr}")
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
    path.write_text(
        "from listings.pipeline.steps import _put_once\nfrom listings.storage import get_store\n"
        "from listings.catalogue import edits\nedits._hidden(1)\nedits.log_edit(1)\n"
    )
    assert _private_imports(path, "listings.matching.m") == [
        "listings.matching.m: from listings.pipeline.steps import _put_once",
        "listings.matching.m: listings.catalogue.edits._hidden",
    ]
