"""OpenAPI 3.1 document generated from the router's route table.

Nothing is written by hand twice: paths, methods, summaries, tags and
permissions come from the :class:`~bitnexus.web.router.Route`\\ s; bodies,
query parameters and responses from their schemas; the errors a route can
answer with from the plugs it runs (JWT → 401, a permission → 403, a rate
limit → 429, a JSON body → 400/413/415, input → 422, an id in the path → 404).
A test checks that every route of the router is in the document.

Example::

    document = openapi_document(router, title="BitNexus API", version="0.1.0")
    document["paths"]["/api/v1/products"]["get"]["operationId"]   # "products.index"
"""

from __future__ import annotations

import http
import re
from typing import Any

from bitnexus.web.plugs import Authenticate, ParseJson, RateLimit, authorize
from bitnexus.web.router import Route, Router

__all__ = ["ERROR_SCHEMA_REF", "openapi_document"]

OPENAPI_VERSION = "3.1.0"
ERROR_SCHEMA_REF = "#/components/schemas/Error"
_REGEX_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):[^}]*\}")
_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON, or a body that is not a JSON object",
    401: "Missing, malformed, expired or otherwise invalid bearer token",
    403: "The caller's role lacks the route's permission",
    404: "No such resource, or one the caller may not see",
    409: "Conflicts with the current state",
    413: "Request body over the size limit",
    415: "Body is not application/json",
    422: "Invalid input: field → messages",
    429: "Rate limit exceeded; retry after the retry-after header's seconds",
    503: "A dependency (database, service process) is unavailable; retry",
}
_ERROR_HEADERS = {
    401: {
        "www-authenticate": {
            "description": "Bearer challenge with the reason",
            "schema": {"type": "string"},
        }
    },
    429: {
        "retry-after": {"description": "seconds to wait", "schema": {"type": "integer"}},
    },
    503: {
        "retry-after": {"description": "seconds to wait", "schema": {"type": "integer"}},
    },
}


def openapi_document(
    router: Router,
    *,
    title: str,
    version: str,
    description: str = "",
    components: dict[str, Any] | None = None,
    servers: tuple[str, ...] = ("/",),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route in ``router``.

    Args:
        router: the route table.
        title: ``info.title``.
        version: ``info.version`` (the API's version, not OpenAPI's).
        description: ``info.description``.
        components: ``components.schemas`` the route schemas ``$ref``; must
            contain ``Error``, the one error shape.
        servers: base URLs; the default is relative to wherever the document
            was fetched from.

    Returns:
        A JSON-ready dict.

    Example::

        openapi_document(router, title="BitNexus API", version="0.1.0",
                         components=COMPONENTS)["openapi"]   # "3.1.0"
    """
    paths: dict[str, dict[str, Any]] = {}
    tags: list[str] = []
    for route in router.routes:
        operation = _operation(router, route)
        paths.setdefault(_openapi_path(route.path), {})[route.method.lower()] = operation
        tags.extend(tag for tag in route.tags if tag not in tags)
    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    return {
        "openapi": OPENAPI_VERSION,
        "info": info,
        "servers": [{"url": url} for url in servers],
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": {
            "schemas": dict(components or {}),
            "responses": {
                _error_name(status): _error_response(status) for status in _ERROR_DESCRIPTIONS
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "The access_token from POST /api/v1/auth/login",
                }
            },
        },
    }


def _openapi_path(path: str) -> str:
    # aiohttp's "{id:\d+}" is "{id}" to OpenAPI.
    return _REGEX_PARAM.sub(r"{\1}", path)


def _error_name(status: int) -> str:
    return f"Error{status}"


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": _ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
    }
    if status in _ERROR_HEADERS:
        response["headers"] = _ERROR_HEADERS[status]
    return response


def _parameter(name: str, where: str, spec: Any, description: str) -> dict[str, Any]:
    schema = {"type": spec} if isinstance(spec, str) else dict(spec)
    param: dict[str, Any] = {"name": name, "in": where, "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


def _operation(router: Router, route: Route) -> dict[str, Any]:
    plugs = router.plugs_for(route)
    authenticated = any(isinstance(plug, Authenticate) for plug in plugs)
    parses_body = any(isinstance(plug, ParseJson) for plug in plugs) and route.method in (
        "POST",
        "PUT",
        "PATCH",
    )
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": dict(_ID_SCHEMA)}
        for name in route.path_params
    ]
    parameters += [_parameter(n, "query", s, d) for n, s, d in route.query]
    parameters += [_parameter(n, "header", s, d) for n, s, d in route.headers]

    errors = set(route.statuses[1:])
    if authenticated:
        errors.add(401)
    if route.permission is not None and authorize in plugs:
        errors.add(403)
    if any(isinstance(plug, RateLimit) for plug in plugs):
        errors.add(429)
    if parses_body:
        errors.update((400, 413, 415))
    if route.request_schema is not None or route.query or route.headers:
        errors.add(422)
    if route.path_params:
        errors.add(404)

    success = route.statuses[0] if route.statuses else 200
    ok: dict[str, Any] = {"description": http.HTTPStatus(success).phrase}
    if route.response_schema is not None:
        ok["content"] = {"application/json": {"schema": route.response_schema}}
    responses: dict[str, Any] = {str(success): ok}
    for status in sorted(errors):
        if status in _ERROR_DESCRIPTIONS:
            responses[str(status)] = {"$ref": f"#/components/responses/{_error_name(status)}"}
        else:
            responses[str(status)] = _error_response_for(status)

    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary or route.operation_id,
        "tags": list(route.tags),
        "responses": responses,
        "x-pipelines": list(route.pipelines),
    }
    if parameters:
        operation["parameters"] = parameters
    if route.request_schema is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": route.request_schema}},
        }
    if authenticated:
        operation["security"] = [{"bearer": []}]
    if route.permission is not None:
        operation["x-permission"] = str(route.permission)
    return operation


def _error_response_for(status: int) -> dict[str, Any]:
    return {
        "description": http.HTTPStatus(status).phrase,
        "content": {"application/json": {"schema": {"$ref": ERROR_SCHEMA_REF}}},
    }
