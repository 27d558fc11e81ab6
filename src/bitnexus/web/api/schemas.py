"""JSON Schemas of the API: request bodies, query parameters and responses.

One source for two readers: :mod:`bitnexus.web.api.params` validates request
bodies and query strings against these schemas, and
:mod:`bitnexus.web.openapi` publishes them, so the document cannot drift from
what the server accepts. Response schemas are ``$ref``\\ s to
:data:`COMPONENTS`.

Example::

    route = api.post("/products", products.create, request_schema=PRODUCT_CREATE,
                     response_schema=data(ref("Product")))
"""

from __future__ import annotations

from typing import Any

from bitnexus.auth.passwords import MAX_PASSWORD_LENGTH
from bitnexus.services.validation import MAX_AMOUNT_MINOR, MIN_PASSWORD_LENGTH

__all__ = [
    "ADMIN_USER_UPDATE",
    "BALANCE_ADJUST",
    "COMPONENTS",
    "ID",
    "IDEMPOTENCY_KEY",
    "LOGIN",
    "MAX_AMOUNT_MINOR",
    "MAX_ID",
    "MIN_PASSWORD_LENGTH",
    "PAGE",
    "PRODUCT_CREATE",
    "PRODUCT_UPDATE",
    "PURCHASE",
    "REFRESH",
    "REGISTER",
    "USER_UPDATE",
    "data",
    "page_of",
    "ref",
]

#: Largest id PostgreSQL's bigint holds; larger ids cannot exist.
MAX_ID = 2**63 - 1
_MAX_PAGE_SIZE = 1000

ID: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_EMAIL = {"type": "string", "format": "email", "minLength": 1, "maxLength": 320}
_CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code"}
_DISPLAY_NAME = {"type": ["string", "null"], "maxLength": 100}
_ROLE = {"type": "string", "enum": ["admin", "user", "affiliate"]}
_TIME = {"type": "string", "format": "date-time"}
_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def ref(name: str) -> dict[str, Any]:
    """``{"$ref": "#/components/schemas/<name>"}``."""
    return {"$ref": f"#/components/schemas/{name}"}


def data(schema: dict[str, Any]) -> dict[str, Any]:
    """The envelope of a single resource: ``{"data": <schema>}``."""
    return {
        "type": "object",
        "required": ["data"],
        "properties": {"data": schema},
    }


def page_of(schema: dict[str, Any]) -> dict[str, Any]:
    """The envelope of a list: ``{"data": [<schema>...], "meta": PageMeta}``."""
    return {
        "type": "object",
        "required": ["data", "meta"],
        "properties": {"data": {"type": "array", "items": schema}, "meta": ref("PageMeta")},
    }


def _object(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


# Request bodies. additionalProperties is false: a misspelt field is a 422,
# not a silently ignored change.
REGISTER = _object(
    ["email", "password"],
    {
        "email": _EMAIL,
        "password": {
            "type": "string",
            "minLength": MIN_PASSWORD_LENGTH,
            "maxLength": MAX_PASSWORD_LENGTH,
            "writeOnly": True,
        },
        "display_name": _DISPLAY_NAME,
        "referred_by": {**ID, "type": ["integer", "null"], "description": "an affiliate's id"},
    },
)
LOGIN = _object(
    ["email", "password"],
    {
        "email": {"type": "string", "minLength": 1, "maxLength": 320},
        "password": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_PASSWORD_LENGTH,
            "writeOnly": True,
        },
    },
)
REFRESH = _object(
    ["refresh_token"], {"refresh_token": {"type": "string", "minLength": 1, "maxLength": 512}}
)
USER_UPDATE = _object(
    [],
    {
        "display_name": _DISPLAY_NAME,
        "password": {
            "type": "string",
            "minLength": MIN_PASSWORD_LENGTH,
            "maxLength": MAX_PASSWORD_LENGTH,
            "writeOnly": True,
        },
        "current_password": {
            "type": "string",
            "maxLength": MAX_PASSWORD_LENGTH,
            "writeOnly": True,
            "description": "required when changing the password",
        },
    },
)
ADMIN_USER_UPDATE = _object(
    [],
    {
        "role": _ROLE,
        "display_name": _DISPLAY_NAME,
        "referred_by": {**ID, "type": ["integer", "null"], "description": "an affiliate's id"},
    },
)
BALANCE_ADJUST = _object(
    ["amount_minor"],
    {
        "amount_minor": {
            "type": "integer",
            "minimum": -MAX_AMOUNT_MINOR,
            "maximum": MAX_AMOUNT_MINOR,
            "description": "non-zero: credit (positive) or debit (negative), in minor"
            " units of the user's currency; a debit cannot make the balance negative",
        }
    },
)
PRODUCT_CREATE = _object(
    ["name", "price_minor", "currency"],
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string", "maxLength": 10_000},
        "price_minor": {"type": "integer", "minimum": 1, "maximum": MAX_AMOUNT_MINOR},
        "currency": _CURRENCY,
        "active": {"type": "boolean"},
    },
)
PRODUCT_UPDATE = _object([], PRODUCT_CREATE["properties"])
PURCHASE = _object(["product_id"], {"product_id": ID})

# Query and header parameters.
PAGE: tuple[tuple[str, dict[str, Any], str], ...] = (
    (
        "limit",
        {"type": "integer", "minimum": 1, "maximum": _MAX_PAGE_SIZE, "default": 50},
        "page size",
    ),
    ("offset", {"type": "integer", "minimum": 0, "maximum": MAX_ID, "default": 0}, "rows to skip"),
)
IDEMPOTENCY_KEY: tuple[str, dict[str, Any], str] = (
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
    "a client-chosen key: retrying with it returns the first outcome, never a second charge",
)

_MONEY = _object(
    ["amount_minor", "currency"],
    {"amount_minor": {"type": "integer"}, "currency": _CURRENCY},
)

#: ``components.schemas`` of the OpenAPI document.
COMPONENTS: dict[str, Any] = {
    "Money": _MONEY,
    "User": _object(
        [
            "id",
            "email",
            "role",
            "display_name",
            "referred_by",
            "balance",
            "created_at",
            "updated_at",
        ],
        {
            "id": {"type": "integer"},
            "email": {"type": "string", "format": "email"},
            "role": _ROLE,
            "display_name": {"type": ["string", "null"]},
            "referred_by": {"type": ["integer", "null"]},
            "balance": ref("Money"),
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    ),
    "TokenPair": _object(
        ["access_token", "refresh_token", "token_type", "expires_in", "user"],
        {
            "access_token": {"type": "string", "description": "JWT; send as Bearer"},
            "refresh_token": {"type": "string", "description": "opaque; single use"},
            "token_type": {"type": "string", "enum": ["bearer"]},
            "expires_in": {"type": "integer", "description": "seconds"},
            "user": ref("User"),
        },
    ),
    "Product": _object(
        ["id", "name", "description", "price", "active", "created_at", "updated_at"],
        {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "price": ref("Money"),
            "active": {"type": "boolean"},
            "created_at": _TIME,
            "updated_at": _TIME,
        },
    ),
    "StatusChange": _object(
        ["status", "reason", "at"],
        {"status": {"type": "string"}, "reason": {"type": ["string", "null"]}, "at": _TIME},
    ),
    "Transaction": _object(
        [
            "id",
            "user_id",
            "product_id",
            "amount",
            "status",
            "failure_reason",
            "created_at",
            "updated_at",
        ],
        {
            "id": {"type": "integer"},
            "user_id": {"type": "integer"},
            "product_id": {"type": "integer"},
            "amount": ref("Money"),
            "status": {"type": "string", "enum": ["pending", "completed", "failed", "refunded"]},
            "failure_reason": {"type": ["string", "null"]},
            "created_at": _TIME,
            "updated_at": _TIME,
            "history": {"type": "array", "items": ref("StatusChange")},
        },
    ),
    "Commission": _object(
        ["id", "affiliate_id", "transaction_id", "amount", "created_at", "reversed_at"],
        {
            "id": {"type": "integer"},
            "affiliate_id": {"type": "integer"},
            "transaction_id": {"type": "integer"},
            "amount": ref("Money"),
            "created_at": _TIME,
            "reversed_at": _NULLABLE_TIME,
        },
    ),
    "PageMeta": _object(
        ["limit", "offset", "count"],
        {
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "count": {"type": "integer", "description": "items on this page"},
        },
    ),
    "Error": {
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "object",
                "description": 'field → messages ({"email": ["has invalid format"]}),'
                ' or {"detail": "..."} for errors not about one field',
                "additionalProperties": True,
            }
        },
    },
}
