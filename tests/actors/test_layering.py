"""The layers stay apart: walk the imports of the real source tree (ast) and
check who may import whom (STYLE habit 7, DESIGN "The layers").

A package that does not exist yet has nothing to walk, so its rule passes
trivially; the tree itself must exist, so the walk is never vacuous.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "bitnexus"


def imports_of(path: Path, src: Path = SRC) -> set[str]:
    """Every module ``path`` imports, absolute, including imports inside
    functions and ``TYPE_CHECKING`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(src).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            # ``from bitnexus import web`` imports bitnexus.web
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def violations(
    package: str, forbidden: list[str], allowed: tuple[str, ...] = (), src: Path = SRC
) -> list[str]:
    """``module imports name`` for every import in ``bitnexus.<package>``
    that starts with a forbidden prefix and with no allowed one."""
    root = src / "bitnexus" / package
    found = []
    for path in sorted(root.rglob("*.py")) if root.is_dir() else []:
        for name in sorted(imports_of(path, src)):
            if any(_under(name, prefix) for prefix in allowed):
                continue
            if any(_under(name, prefix) for prefix in forbidden):
                found.append(f"{path.relative_to(src)} imports {name}")
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_walk_sees_the_real_source_tree() -> None:
    names = {p.name for p in (PACKAGE / "actors").glob("*.py")}
    assert {"process.py", "node.py", "pid.py", "actor.py"} <= names
    assert "bitnexus.exceptions" in imports_of(PACKAGE / "actors" / "pid.py")
    assert violations("actors", ["bitnexus.exceptions"]) != []


def test_the_walk_catches_relative_nested_and_type_checking_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bitnexus" / "actors" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "from .. import web\n"
        "from . import pid\n"
        "if TYPE_CHECKING:\n"
        "    from bitnexus.channels import socket\n"
        "def f():\n"
        "    import bitnexus.services.users\n",
        encoding="utf-8",
    )
    assert violations("actors", ["bitnexus"], ("bitnexus.actors",), src=tmp_path) == [
        "bitnexus/actors/bad.py imports bitnexus",  # the root package, for ``web``
        "bitnexus/actors/bad.py imports bitnexus.channels",
        "bitnexus/actors/bad.py imports bitnexus.channels.socket",
        "bitnexus/actors/bad.py imports bitnexus.services.users",
        "bitnexus/actors/bad.py imports bitnexus.web",
    ]
    assert violations("missing", ["bitnexus"], src=tmp_path) == []


def test_actors_import_only_actors_exceptions_and_log_from_bitnexus() -> None:
    allowed = ("bitnexus.actors", "bitnexus.exceptions", "bitnexus.log")
    assert violations("actors", ["bitnexus"], allowed) == []


def test_supervision_imports_nothing_from_the_layers_above_it() -> None:
    above = ["channels", "web", "services", "repo", "auth", "admin", "pubsub"]
    assert violations("supervision", [f"bitnexus.{name}" for name in above]) == []


def test_channels_never_import_the_web_layer() -> None:
    assert violations("channels", ["bitnexus.web"]) == []


def test_services_never_import_aiohttp() -> None:
    assert violations("services", ["aiohttp"]) == []
