"""Request input checked against the route's schemas, changeset style.

A controller asks for what it needs; anything wrong becomes a 422 with every
broken rule of every field at once (``{"errors": {"field": ["message"]}}``),
or a 404 for an id in the path that cannot exist. The checks implement the
subset of JSON Schema used in :mod:`bitnexus.web.api.schemas`: ``type``
(one or a list), ``required``, ``additionalProperties: false``,
``minLength``/``maxLength``, ``minimum``/``maximum``, ``enum``, ``pattern``,
``format: email`` (the accounts service's rule) and ``default``.

Example::

    async def create(self, request):
        body = params.body(request)            # checked against route.request_schema
        page = params.query(request)           # checked against route.query
        product_id = params.path_id(request)   # 404 unless a positive bigint
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aiohttp import web

from bitnexus.services.validation import check_email
from bitnexus.web.api.schemas import MAX_ID
from bitnexus.web.errors import ApiError
from bitnexus.web.request_keys import BODY_KEY, ROUTE_KEY

__all__ = ["body", "check_object", "check_value", "header", "path_id", "query"]

_INTEGER = re.compile(r"^[+-]?[0-9]{1,19}$")
# format → checker raising ValueError(message): the services' own rules, so a
# field is judged the same here and there.
_FORMATS: dict[str, Callable[[Any], Any]] = {"email": check_email}
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def _types(schema: dict[str, Any]) -> tuple[str, ...]:
    kind = schema.get("type")
    if kind is None:
        return ()
    return (kind,) if isinstance(kind, str) else tuple(kind)


def _has_type(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "string":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    return False


@lru_cache(maxsize=256)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def check_value(value: Any, schema: dict[str, Any]) -> list[str]:
    """Every rule of ``schema`` that ``value`` breaks, as messages.

    Example::

        check_value("", {"type": "string", "minLength": 1})   # ["can't be blank"]
    """
    types = _types(schema)
    if types and not any(_has_type(value, kind) for kind in types):
        names = " or ".join(_TYPE_NAMES.get(kind, kind) for kind in types)
        return [f"must be {names}"]
    if value is None:
        return []
    messages: list[str] = []
    if isinstance(value, str):
        if "\x00" in value:
            # PostgreSQL text cannot hold NUL; refuse it here, not as a 500 there.
            return ["must not contain NUL characters"]
        if len(value) < schema.get("minLength", 0):
            messages.append(
                "can't be blank"
                if not value
                else f"should be at least {schema['minLength']} characters"
            )
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            messages.append(f"should be at most {schema['maxLength']} characters")
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            messages.append("has invalid format")
        checker = _FORMATS.get(schema.get("format", ""))
        if checker is not None and value and not messages:
            try:
                checker(value)
            except ValueError as exc:
                messages.append(str(exc))
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            messages.append(f"must be greater than or equal to {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            messages.append(f"must be less than or equal to {schema['maximum']}")
    if "enum" in schema and value not in schema["enum"]:
        messages.append("is invalid; expected one of " + ", ".join(map(str, schema["enum"])))
    return messages


def check_object(value: dict[str, Any], schema: dict[str, Any]) -> dict[str, list[str]]:
    """Field → messages for every broken rule of an object schema (empty when valid)."""
    errors: dict[str, list[str]] = {}
    properties: dict[str, Any] = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            errors[name] = ["can't be blank"]
    for name, item in value.items():
        if name in properties:
            messages = check_value(item, properties[name])
        elif schema.get("additionalProperties", True) is False:
            messages = ["is not a known field"]
        else:
            messages = []
        if messages:
            errors[str(name)[:64]] = messages
    return errors


def body(request: web.Request) -> dict[str, Any]:
    """The parsed JSON body, checked against the route's ``request_schema``.

    Raises:
        ApiError: 422 with every broken rule.
    """
    raw: dict[str, Any] = request.get(BODY_KEY) or {}
    schema = request[ROUTE_KEY].request_schema
    if schema is None:
        return raw
    errors = check_object(raw, schema)
    if errors:
        raise ApiError(422, errors)
    return raw


def _convert(raw: str, schema: dict[str, Any]) -> Any:
    """A query string value as the schema's type; ``ValueError`` when it is not one."""
    types = _types(schema) or ("string",)
    if "integer" in types:
        if not _INTEGER.match(raw):
            raise ValueError("must be an integer")
        return int(raw)
    if "boolean" in types:
        if raw not in ("true", "false"):
            raise ValueError("must be true or false")
        return raw == "true"
    return raw


_QUERY_CACHE: dict[tuple[str, str, str], dict[str, Any]] = {}


def query(request: web.Request) -> dict[str, Any]:
    """The route's documented query parameters, converted, checked and defaulted.

    Undocumented parameters are ignored. A parameter without a default that
    the client did not send is absent from the result.

    Raises:
        ApiError: 422 with every broken rule.
    """
    route = request[ROUTE_KEY]
    key = (route.method, route.path, request.query_string)
    known = _QUERY_CACHE.get(key)
    if known is not None:
        return dict(known)  # the same query string always parses the same way
    result: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, spec, _description in route.query:
        schema = {"type": spec} if isinstance(spec, str) else spec
        if name not in request.query:
            if "default" in schema:
                result[name] = schema["default"]
            continue
        values = request.query.getall(name)
        if len(values) > 1:
            errors[name] = ["must be given once"]
            continue
        try:
            value = _convert(values[0], schema)
        except ValueError as exc:
            errors[name] = [str(exc)]
            continue
        messages = check_value(value, schema)
        if messages:
            errors[name] = messages
        else:
            result[name] = value
    if errors:
        raise ApiError(422, errors)
    if len(_QUERY_CACHE) >= 4096:
        _QUERY_CACHE.clear()
    _QUERY_CACHE[key] = result
    return dict(result)


def header(request: web.Request, name: str) -> str | None:
    """A documented request header, checked against its schema; ``None`` when absent.

    Raises:
        ApiError: 422 keyed by the header name in snake case
            (``Idempotency-Key`` → ``idempotency_key``).
    """
    for documented, spec, _description in request[ROUTE_KEY].headers:
        if documented.lower() == name.lower():
            schema = {"type": spec} if isinstance(spec, str) else spec
            break
    else:
        schema = {"type": "string"}
    value = request.headers.get(name)
    if value is None:
        return None
    messages = check_value(value, schema)
    if messages:
        raise ApiError(422, {name.lower().replace("-", "_"): messages})
    return value


def path_id(request: web.Request, name: str = "id") -> int:
    """The ``{name}`` path segment as a row id.

    Raises:
        ApiError: 404 when it is not a positive integer that fits a bigint:
            no such row can exist.
    """
    raw = request.match_info.get(name, "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise ApiError(404)
    value = int(raw)
    if not 1 <= value <= MAX_ID:
        raise ApiError(404)
    return value
