"""A run's fingerprint: the inputs by hash, the notebooks, the parameters, and the package
code the notebooks run (the modules they import, read with ``ast``, and in turn every
package module those import, with their packages' ``__init__``). So editing the service,
the runner or the docs keeps the served run; editing data or model code reruns.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import nbformat

from milk_forecast.runner.stages import PipelineError

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def fingerprint(inputs: Mapping[str, Any], code: str, parameters: Mapping[str, Any]) -> str:
    payload = json.dumps(
        {"inputs": {k: v["sha256"] for k, v in inputs.items()}, "code": code, "params": parameters},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def code_digest(notebooks: Iterable[Path], package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over the notebooks and the package modules they run (``code_files``)."""
    notebooks = list(notebooks)
    digest = hashlib.sha256()
    for path in notebooks:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for path in code_files(notebooks, package_dir):
        digest.update(path.relative_to(package_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def code_files(notebooks: Iterable[Path], package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The package's source files the notebooks import, directly or through each other."""
    pending = [name for path in notebooks for name in notebook_imports(path)]
    found: set[Path] = set()
    while pending:
        name = pending.pop()
        path = module_file(name, package_dir)
        if path is None or path in found:
            continue
        found.add(path)
        pending.append(name.rpartition(".")[0])  # importing a module runs its package too
        pending.extend(imported_modules(parse(path.read_text(encoding="utf-8"), path), name, path))
    return sorted(found)


def notebook_imports(path: Path) -> set[str]:
    """The modules a notebook's code cells import (IPython magics and shell lines skipped)."""
    names: set[str] = set()
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            lines = [line for line in cell.source.splitlines() if line.lstrip()[:1] not in "%!"]
            names |= imported_modules(parse("\n".join(lines), path), None, path)
    return names


def parse(source: str, path: Path) -> ast.AST:
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        raise PipelineError(f"{path}: line {exc.lineno} is not valid Python ({exc.msg})") from None


def imported_modules(tree: ast.AST, module: str | None, path: Path) -> set[str]:
    """Every name ``tree`` imports as a module, and ``from X import y`` as both X and X.y
    (y may be a submodule); relative imports resolved against ``module`` (file ``path``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and module is not None:
                package = module if path.name == "__init__.py" else module.rpartition(".")[0]
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def module_file(name: str, package_dir: Path) -> Path | None:
    """The source file of module ``name`` when it belongs to the package, else None."""
    parts = name.split(".")
    if parts[0] != package_dir.name:
        return None
    base = package_dir.parent.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None
