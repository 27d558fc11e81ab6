"""BitNexus: Erlang/OTP processes and Phoenix channels for Python.

Supervised asyncio actors behind an aiohttp front door, and the BitNexus
platform (accounts, products, transactions) built on them.

Example::

    import bitnexus
    print(bitnexus.__version__)
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
