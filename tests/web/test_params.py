"""Request input checked against route schemas: 422 with every broken rule, 404 for bad ids."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from bitnexus.web.api import params
from bitnexus.web.api.schemas import PAGE, PRODUCT_CREATE, REGISTER
from bitnexus.web.errors import ApiError
from bitnexus.web.request_keys import BODY_KEY, ROUTE_KEY
from bitnexus.web.router import Route


async def nothing(request: web.Request) -> web.Response:
    return web.Response()


def request_for(
    path: str = "/x",
    *,
    body: dict[str, Any] | None = None,
    match: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **route: Any,
) -> web.Request:
    request = make_mocked_request("POST", path, headers=headers, match_info=match or {})
    request[ROUTE_KEY] = Route("POST", "/x", nothing, (), **route)
    request[BODY_KEY] = body or {}
    return request


def refused(fn: Any, *args: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args)
    return info.value


@pytest.mark.parametrize(
    ("value", "schema", "messages"),
    [
        ("", {"type": "string", "minLength": 1}, ["can't be blank"]),
        ("ab", {"type": "string", "minLength": 3}, ["should be at least 3 characters"]),
        ("abcd", {"type": "string", "maxLength": 3}, ["should be at most 3 characters"]),
        ("usd", {"type": "string", "pattern": "^[A-Z]{3}$"}, ["has invalid format"]),
        ("a\x00b", {"type": "string"}, ["must not contain NUL characters"]),
        (True, {"type": "integer"}, ["must be an integer"]),
        (1.5, {"type": "integer"}, ["must be an integer"]),
        (0, {"type": "integer", "minimum": 1}, ["must be greater than or equal to 1"]),
        (11, {"type": "integer", "maximum": 10}, ["must be less than or equal to 10"]),
        (None, {"type": "string"}, ["must be a string"]),
        (None, {"type": ["string", "null"]}, []),
        (3, {"type": ["string", "null"]}, ["must be a string or null"]),
        ("root", {"type": "string", "enum": ["user", "admin"]},
         ["is invalid; expected one of user, admin"]),
        ("fine", {"type": "string", "minLength": 1, "maxLength": 10}, []),
        ("ada@", {"type": "string", "format": "email"}, ["has invalid format"]),
        ("ada@example.com", {"type": "string", "format": "email"}, []),
    ],
)  # fmt: skip
def test_a_value_is_checked_against_its_schema(
    value: Any, schema: dict[str, Any], messages: list[str]
) -> None:
    assert params.check_value(value, schema) == messages


def test_every_field_error_of_a_body_is_reported_at_once() -> None:
    error = refused(
        params.body,
        request_for(body={"email": 7, "password": "short", "extra": 1}, request_schema=REGISTER),
    )
    assert error.status == 422
    assert error.errors == {
        "email": ["must be a string"],
        "password": ["should be at least 8 characters"],
        "extra": ["is not a known field"],
    }


def test_missing_required_fields_cannot_be_blank() -> None:
    error = refused(params.body, request_for(body={}, request_schema=PRODUCT_CREATE))
    assert error.errors == {
        "name": ["can't be blank"],
        "price_minor": ["can't be blank"],
        "currency": ["can't be blank"],
    }


def test_a_valid_body_is_returned_as_sent() -> None:
    sent = {"name": "Tea", "price_minor": 450, "currency": "EUR", "active": False}
    assert params.body(request_for(body=sent, request_schema=PRODUCT_CREATE)) == sent


def test_pagination_defaults_when_absent() -> None:
    assert params.query(request_for("/x", query=PAGE)) == {"limit": 50, "offset": 0}


def test_query_values_are_converted_and_checked() -> None:
    spec = (*PAGE, ("q", {"type": "string", "maxLength": 5}, ""), ("flag", "boolean", ""))
    got = params.query(request_for("/x?limit=10&offset=20&q=tea&flag=true", query=spec))
    assert got == {"limit": 10, "offset": 20, "q": "tea", "flag": True}


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("limit=0", {"limit": ["must be greater than or equal to 1"]}),
        ("limit=1001", {"limit": ["must be less than or equal to 1000"]}),
        ("limit=ten", {"limit": ["must be an integer"]}),
        ("limit=1.5", {"limit": ["must be an integer"]}),
        ("offset=-1", {"offset": ["must be greater than or equal to 0"]}),
        ("offset=99999999999999999999", {"offset": ["must be an integer"]}),
        ("limit=5&limit=6", {"limit": ["must be given once"]}),
        ("limit=0&offset=x", {"limit": ["must be greater than or equal to 1"],
                              "offset": ["must be an integer"]}),
    ],
)  # fmt: skip
def test_bad_pagination_is_a_422_naming_the_parameter(query: str, errors: Any) -> None:
    error = refused(params.query, request_for(f"/x?{query}", query=PAGE))
    assert (error.status, error.errors) == (422, errors)


def test_undocumented_query_parameters_are_ignored() -> None:
    assert params.query(request_for("/x?utm_source=mail", query=PAGE))["limit"] == 50


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1e3", "٣", "9223372036854775808", ""])
def test_a_path_id_that_cannot_exist_is_a_404(raw: str) -> None:
    error = refused(params.path_id, request_for(match={"id": raw}))
    assert error.status == 404


def test_a_path_id_is_an_integer() -> None:
    assert params.path_id(request_for(match={"id": "9223372036854775807"})) == 2**63 - 1


def test_a_documented_header_is_checked_and_named_in_snake_case() -> None:
    spec = (("Idempotency-Key", {"type": "string", "maxLength": 4}, ""),)
    request = make_mocked_request("POST", "/x", headers={"Idempotency-Key": "abcde"})
    request[ROUTE_KEY] = Route("POST", "/x", nothing, (), headers=spec)
    error = refused(params.header, request, "Idempotency-Key")
    assert error.errors == {"idempotency_key": ["should be at most 4 characters"]}
    fine = make_mocked_request("POST", "/x", headers={"Idempotency-Key": "abcd"})
    fine[ROUTE_KEY] = Route("POST", "/x", nothing, (), headers=spec)
    assert params.header(fine, "Idempotency-Key") == "abcd"
    assert params.header(request_for(), "Idempotency-Key") is None
