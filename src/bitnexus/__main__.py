"""``python -m bitnexus``: the same as the ``bitnexus`` command."""

from __future__ import annotations

from bitnexus.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
