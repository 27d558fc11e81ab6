"""Connect and join log lines, with secrets filtered out of parameters
(like Phoenix's ``filter_parameters``).

Example::

    filter_params({"user": "ada", "password": "hunter2"})
    # {"user": "ada", "password": "[FILTERED]"}
"""

from __future__ import annotations

from typing import Any

__all__ = ["FILTERED", "SECRET_PARAMS", "filter_params"]

FILTERED = "[FILTERED]"
SECRET_PARAMS = ("password", "token", "secret", "authorization", "auth_token")


def filter_params(value: Any, secrets: tuple[str, ...] = SECRET_PARAMS) -> Any:
    """A copy of ``value`` with every key containing a secret word replaced."""
    if isinstance(value, dict):
        return {
            key: FILTERED
            if isinstance(key, str) and any(word in key.lower() for word in secrets)
            else filter_params(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [filter_params(item, secrets) for item in value]
    return value
