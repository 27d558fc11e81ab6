"""JSON views: explicit fields, money as {amount_minor, currency}, never a password hash."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from bitnexus.repo import Commission, Product, StatusChange, Transaction, User
from bitnexus.services import TokenPair
from bitnexus.web.api.schemas import COMPONENTS
from bitnexus.web.api.views import (
    commission_view,
    one,
    page,
    product_view,
    token_view,
    transaction_view,
    user_view,
)

from .api_support import conforms

AT = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
USER = User(
    id=7,
    email="ada@example.com",
    password_hash="$argon2id$v=19$m=65536,t=3,p=4$secret",
    role="affiliate",
    referred_by=None,
    balance_minor=12_34,
    currency="EUR",
    display_name="Ada",
    created_at=AT,
    updated_at=AT,
)
TX = Transaction(
    id=9,
    user_id=7,
    product_id=3,
    amount_minor=4_50,
    currency="EUR",
    status="completed",
    failure_reason=None,
    idempotency_key="client-key-1",
    request_hash="deadbeef",
    created_at=AT,
    updated_at=AT,
)


def test_a_user_view_never_contains_the_password_hash() -> None:
    view = user_view(USER)
    text = orjson.dumps(view).decode()
    assert "password" not in text and "argon2" not in text
    assert view["balance"] == {"amount_minor": 12_34, "currency": "EUR"}
    assert view["created_at"] == "2025-01-02T03:04:05+00:00"
    assert conforms(view, {"$ref": "#/components/schemas/User"}, COMPONENTS) == []


def test_a_token_view_carries_both_tokens_and_the_user() -> None:
    pair = TokenPair(
        access_token="a.b.c", refresh_token="r", expires_in=900, user=USER, refresh_expires_in=60
    )
    view = token_view(pair)
    assert view["token_type"] == "bearer"
    assert view["user"]["id"] == 7
    assert conforms(view, {"$ref": "#/components/schemas/TokenPair"}, COMPONENTS) == []


def test_a_product_view_shows_its_price_as_money() -> None:
    product = Product(
        id=3, name="Tea", description="", price_minor=4_50, currency="EUR", active=True,
        created_at=AT, updated_at=AT,
    )  # fmt: skip
    view = product_view(product)
    assert view["price"] == {"amount_minor": 4_50, "currency": "EUR"}
    assert conforms(view, {"$ref": "#/components/schemas/Product"}, COMPONENTS) == []


def test_a_transaction_view_hides_the_idempotency_key_and_request_hash() -> None:
    history = (StatusChange("pending", None, AT), StatusChange("completed", None, AT))
    view = transaction_view(TX, history)
    text = orjson.dumps(view).decode()
    assert "client-key-1" not in text and "deadbeef" not in text
    assert [step["status"] for step in view["history"]] == ["pending", "completed"]
    assert view["amount"] == {"amount_minor": 4_50, "currency": "EUR"}
    assert "history" not in transaction_view(TX)
    assert conforms(view, {"$ref": "#/components/schemas/Transaction"}, COMPONENTS) == []


def test_a_commission_view_conforms_to_its_schema() -> None:
    commission = Commission(
        id=1, affiliate_id=2, transaction_id=9, amount_minor=45, currency="EUR",
        created_at=AT, reversed_at=None,
    )  # fmt: skip
    view = commission_view(commission)
    assert view["reversed_at"] is None
    assert conforms(view, {"$ref": "#/components/schemas/Commission"}, COMPONENTS) == []


def test_lists_are_wrapped_with_their_page() -> None:
    assert page([1, 2], limit=2, offset=4) == {
        "data": [1, 2],
        "meta": {"limit": 2, "offset": 4, "count": 2},
    }
    assert one({"id": 1}) == {"data": {"id": 1}}
