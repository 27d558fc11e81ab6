"""Services stay below the web: they never import aiohttp, the channels layer,
the web layer or the platform composition (DESIGN "The layers")."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "src" / "bitnexus" / "services"
FORBIDDEN = ("aiohttp", "bitnexus.channels", "bitnexus.web", "bitnexus.platform")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, nested imports included."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: inside bitnexus.services, which is allowed
                continue
            found.add(node.module or "")
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_the_walk_sees_the_service_modules():
    names = {p.name for p in SERVICES.glob("*.py")}
    assert {"accounts.py", "products.py", "transactions.py", "passwords.py"} <= names
    assert "bitnexus.repo" in imported_modules(SERVICES / "accounts.py")


def test_services_import_neither_aiohttp_nor_channels_nor_web():
    offending = sorted(
        f"{path.name} imports {name}"
        for path in SERVICES.glob("*.py")
        for name in imported_modules(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    )
    assert offending == []
