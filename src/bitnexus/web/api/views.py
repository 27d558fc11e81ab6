"""JSON views: what each resource looks like on the wire.

Explicit field lists, never a dataclass dumped whole: a ``User`` has a
``password_hash`` that must never leave the server. Money is always
``{"amount_minor", "currency"}``; times are ISO 8601 strings. Transactions
and commissions use the same payload functions as the socket notifications
(:mod:`bitnexus.services.transactions`), so a client sees one shape on both.
Success bodies are ``{"data": ...}``, lists add ``{"meta": {...}}``.

Example::

    return json_response(one(product_view(product)), status=201)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from bitnexus.repo import Commission, Product, StatusChange, Transaction, User
from bitnexus.services.transactions import commission_payload, money, transaction_payload

__all__ = [
    "commission_view",
    "one",
    "page",
    "product_view",
    "status_change_view",
    "token_view",
    "transaction_view",
    "user_view",
]


def _time(value: datetime) -> str:
    return value.isoformat()


def one(data: Any) -> dict[str, Any]:
    """``{"data": data}``."""
    return {"data": data}


def page(items: Sequence[Any], *, limit: int, offset: int) -> dict[str, Any]:
    """``{"data": items, "meta": {"limit", "offset", "count"}}``."""
    return {"data": list(items), "meta": {"limit": limit, "offset": offset, "count": len(items)}}


def user_view(user: User) -> dict[str, Any]:
    """A user without the password hash.

    Example::

        user_view(user)["balance"]   # {"amount_minor": 1000, "currency": "USD"}
    """
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "display_name": user.display_name,
        "referred_by": user.referred_by,
        "balance": money(user.balance_minor, user.currency),
        "created_at": _time(user.created_at),
        "updated_at": _time(user.updated_at),
    }


def token_view(pair: Any) -> dict[str, Any]:
    """A login or refresh result (:class:`~bitnexus.services.TokenPair`)."""
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": pair.token_type,
        "expires_in": pair.expires_in,
        "user": user_view(pair.user),
    }


_PRODUCT_VIEWS: dict[tuple[int, datetime], dict[str, Any]] = {}


def product_view(product: Product) -> dict[str, Any]:
    """A product with its price as money.

    Memoized by (id, updated_at): the catalogue is read far more than it
    changes, and every change moves ``updated_at``. Callers must not mutate
    the returned dict.
    """
    key = (product.id, product.updated_at)
    view = _PRODUCT_VIEWS.get(key)
    if view is None:
        if len(_PRODUCT_VIEWS) >= 4096:
            _PRODUCT_VIEWS.clear()
        view = _PRODUCT_VIEWS[key] = _render_product(product)
    return view


def _render_product(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "description": product.description,
        "price": money(product.price_minor, product.currency),
        "active": product.active,
        "created_at": _time(product.created_at),
        "updated_at": _time(product.updated_at),
    }


def status_change_view(change: StatusChange) -> dict[str, Any]:
    """One step of a transaction's history."""
    return {"status": change.status, "reason": change.reason, "at": _time(change.at)}


def transaction_view(
    tx: Transaction, history: Iterable[StatusChange] | None = None
) -> dict[str, Any]:
    """A transaction (never its idempotency key or request hash), with its
    history when given."""
    view = transaction_payload(tx)
    if history is not None:
        view["history"] = [status_change_view(change) for change in history]
    return view


def commission_view(commission: Commission) -> dict[str, Any]:
    """A commission; ``reversed_at`` is set once its purchase was refunded."""
    return commission_payload(commission)
