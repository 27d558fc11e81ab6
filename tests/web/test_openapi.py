"""The OpenAPI 3.1 document: generated from the router, complete, structurally valid."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from bitnexus.config import load_settings
from bitnexus.platform import Platform
from bitnexus.repo.testing import PostgresTestServer
from bitnexus.web.api import build_router
from bitnexus.web.api.router import DocsController
from bitnexus.web.router import Router

from .api_support import running_api

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def router() -> Router:
    return build_router(Platform(load_settings("test", environ={})))


@pytest.fixture(scope="module")
def document(router: Router) -> dict[str, Any]:
    docs = next(r.handler for r in router.routes if r.path.endswith("/openapi.json"))
    controller = docs.__self__  # type: ignore[attr-defined]
    assert isinstance(controller, DocsController)
    return controller.document()


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_every_route_of_the_router_is_documented(router: Router, document: dict[str, Any]) -> None:
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }
    assert documented == {(r.method, r.path) for r in router.routes}


def test_the_document_is_openapi_3_1_with_info_and_components(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] and document["info"]["version"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert {"User", "Product", "Transaction", "Commission", "Money", "Error"} <= set(
        document["components"]["schemas"]
    )


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for ref in set(refs(document)):
        assert resolve(document, ref) is not None, ref


def test_operation_ids_are_unique(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_every_path_parameter_is_declared_once(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        for operation in item.values():
            declared = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
            assert sorted(declared) == sorted(names), (path, declared)
            assert all(p["required"] for p in operation.get("parameters", []) if p["in"] == "path")


def test_operations_carry_security_permission_and_error_responses(
    document: dict[str, Any],
) -> None:
    products = document["paths"]["/api/v1/products"]
    create = products["post"]
    assert create["security"] == [{"bearer": []}]
    assert create["x-permission"] == "products:write"
    assert {"201", "400", "401", "403", "413", "415", "422", "429"} <= set(create["responses"])
    assert create["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "name",
        "price_minor",
        "currency",
    ]
    listing = products["get"]
    assert {p["name"] for p in listing["parameters"]} >= {"limit", "offset", "currency", "q"}
    login = document["paths"]["/api/v1/auth/login"]["post"]
    assert "security" not in login and "401" in login["responses"]
    purchase = document["paths"]["/api/v1/transactions"]["post"]
    assert any(
        p["in"] == "header" and p["name"] == "Idempotency-Key" for p in purchase["parameters"]
    )
    assert "409" in purchase["responses"]


def test_error_responses_use_the_one_error_shape(document: dict[str, Any]) -> None:
    for name, response in document["components"]["responses"].items():
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}, name


def test_the_document_passes_the_openapi_spec_validator(document: dict[str, Any]) -> None:
    import openapi_spec_validator

    openapi_spec_validator.validate(document)


async def test_the_served_document_describes_every_installed_api_route(
    postgres_server: PostgresTestServer,
) -> None:
    async with running_api(postgres_server) as api:
        reply = await api.request("GET", "openapi.json")
        assert reply.status == 200
        served = reply.body
        installed = {
            (route.method, route.resource.canonical)
            for route in api.app.router.routes()
            if route.resource is not None
            and route.resource.canonical.startswith("/api/v1")
            and route.method != "HEAD"
        }
    documented = {
        (method.upper(), path) for path, item in served["paths"].items() for method in item
    }
    assert documented == installed
