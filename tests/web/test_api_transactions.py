"""/api/v1/transactions and /commissions over real HTTP: purchases, idempotency,
concurrency, who sees what, refunds."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bitnexus.repo.testing import PostgresTestServer

from .api_support import Account, Api, running_api

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(postgres_server: PostgresTestServer) -> AsyncIterator[Api]:
    async with running_api(postgres_server) as api:
        yield api


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(api: Api) -> Account:
    return await api.account("admin")


async def balance(api: Api, account: Account) -> int:
    reply = await api.request("GET", "users/me", token=account.token)
    return int(reply.data["balance"]["amount_minor"])


async def buy(api: Api, account: Account, product_id: int, key: str | None = None) -> object:
    headers = {"Idempotency-Key": key} if key is not None else None
    return await api.request(
        "POST",
        "transactions",
        token=account.token,
        json={"product_id": product_id},
        headers=headers,
    )


async def test_a_purchase_charges_the_balance_and_shows_its_history(api: Api) -> None:
    buyer = await api.account("user", balance_minor=10_00)
    product_id = await api.product(price_minor=3_00)
    reply = await buy(api, buyer, product_id)
    assert reply.status == 201
    tx = reply.data
    assert (tx["status"], tx["user_id"], tx["product_id"]) == ("completed", buyer.id, product_id)
    assert tx["amount"] == {"amount_minor": 3_00, "currency": "USD"}
    assert [step["status"] for step in tx["history"]] == ["pending", "completed"]
    assert reply.headers["location"] == f"/api/v1/transactions/{tx['id']}"
    assert "idempotent-replayed" not in reply.headers
    assert await balance(api, buyer) == 7_00


async def test_a_purchase_without_enough_money_fails_with_409_and_charges_nothing(api: Api) -> None:
    buyer = await api.account("user", balance_minor=1_00)
    product_id = await api.product(price_minor=3_00)
    reply = await buy(api, buyer, product_id)
    assert reply.status == 409
    assert reply.errors["reason"] == "insufficient_funds"
    tx_id = reply.errors["transaction_id"]
    shown = await api.request("GET", f"transactions/{tx_id}", token=buyer.token)
    assert (shown.data["status"], shown.data["failure_reason"]) == ("failed", "insufficient_funds")
    assert await balance(api, buyer) == 1_00


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "product_id"), ({"product_id": "3"}, "product_id"), ({"product_id": 0}, "product_id"),
     ({"product_id": 1, "quantity": 2}, "quantity")],
)  # fmt: skip
async def test_a_purchase_body_is_validated(api: Api, body: dict[str, object], field: str) -> None:
    buyer = await api.account("user")
    reply = await api.request("POST", "transactions", token=buyer.token, json=body)
    assert reply.status == 422
    assert list(reply.errors) == [field]


async def test_buying_a_missing_or_retired_product_is_a_404(api: Api, admin: Account) -> None:
    buyer = await api.account("user", balance_minor=10_00)
    product_id = await api.product()
    await api.request("DELETE", f"products/{product_id}", token=admin.token)
    for target in (product_id, 987_654):
        reply = await buy(api, buyer, target)
        assert reply.status == 404, target


async def test_a_retry_with_the_same_idempotency_key_returns_the_first_result_and_charges_once(
    api: Api,
) -> None:
    buyer = await api.account("user", balance_minor=10_00)
    product_id = await api.product(price_minor=4_00)
    key = str(uuid.uuid4())
    first = await buy(api, buyer, product_id, key)
    again = await buy(api, buyer, product_id, key)
    assert (first.status, again.status) == (201, 201)
    assert again.data["id"] == first.data["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert await balance(api, buyer) == 6_00
    listed = await api.request("GET", "transactions", token=buyer.token)
    assert [tx["id"] for tx in listed.data] == [first.data["id"]]


async def test_the_same_idempotency_key_for_another_product_is_a_409(api: Api) -> None:
    buyer = await api.account("user", balance_minor=10_00)
    tea, coffee = await api.product(price_minor=1_00), await api.product(price_minor=2_00)
    key = str(uuid.uuid4())
    assert (await buy(api, buyer, tea, key)).status == 201
    reply = await buy(api, buyer, coffee, key)
    assert reply.status == 409
    assert "idempotency key" in reply.errors["detail"]
    assert await balance(api, buyer) == 9_00


async def test_concurrent_retries_with_one_key_make_one_charge(api: Api) -> None:
    buyer = await api.account("user", balance_minor=10_00)
    product_id = await api.product(price_minor=1_00)
    key = str(uuid.uuid4())
    replies = await asyncio.gather(*(buy(api, buyer, product_id, key) for _ in range(10)))
    assert {r.status for r in replies} == {201}
    assert len({r.data["id"] for r in replies}) == 1
    assert await balance(api, buyer) == 9_00


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ключ"])
async def test_a_malformed_idempotency_key_is_a_422(api: Api, key: str) -> None:
    buyer = await api.account("user", balance_minor=10_00)
    product_id = await api.product()
    reply = await api.request(
        "POST",
        "transactions",
        token=buyer.token,
        json={"product_id": product_id},
        headers={"Idempotency-Key": key},
    )
    assert reply.status == 422
    assert list(reply.errors) == ["idempotency_key"]


async def test_fifty_concurrent_purchases_against_a_balance_for_ten_complete_exactly_ten(
    api: Api,
) -> None:
    buyer = await api.account("user", balance_minor=10 * 7_00)
    product_id = await api.product(price_minor=7_00)
    replies = await asyncio.gather(
        *(buy(api, buyer, product_id, str(uuid.uuid4())) for _ in range(50))
    )
    assert Counter(r.status for r in replies) == {201: 10, 409: 40}
    assert {r.errors["reason"] for r in replies if r.status == 409} == {"insufficient_funds"}
    assert await balance(api, buyer) == 0
    listed = await api.request("GET", "transactions?limit=100", token=buyer.token)
    assert Counter(tx["status"] for tx in listed.data) == {"completed": 10, "failed": 40}


async def test_each_role_lists_the_transactions_it_may_see(api: Api, admin: Account) -> None:
    affiliate = await api.account("affiliate", balance_minor=10_00)
    referred = await api.account("user", balance_minor=10_00, referred_by=affiliate.id)
    stranger = await api.account("user", balance_minor=10_00)
    product_id = await api.product(price_minor=1_00)
    own = (await buy(api, affiliate, product_id)).data["id"]
    theirs = (await buy(api, referred, product_id)).data["id"]
    foreign = (await buy(api, stranger, product_id)).data["id"]

    async def visible(account: Account) -> set[int]:
        reply = await api.request("GET", "transactions?limit=1000", token=account.token)
        assert reply.status == 200
        return {tx["id"] for tx in reply.data}

    assert await visible(referred) == {theirs}
    assert await visible(stranger) == {foreign}
    assert await visible(affiliate) == {own, theirs}
    assert {own, theirs, foreign} <= await visible(admin)


async def test_a_transaction_is_shown_to_its_owner_referrer_and_admins_only(
    api: Api, admin: Account
) -> None:
    affiliate = await api.account("affiliate")
    buyer = await api.account("user", balance_minor=10_00, referred_by=affiliate.id)
    stranger = await api.account("user")
    other_affiliate = await api.account("affiliate")
    tx_id = (await buy(api, buyer, await api.product())).data["id"]
    for account in (buyer, affiliate, admin):
        reply = await api.request("GET", f"transactions/{tx_id}", token=account.token)
        assert (reply.status, reply.data["id"]) == (200, tx_id), account.role
        assert [s["status"] for s in reply.data["history"]] == ["pending", "completed"]
    for account in (stranger, other_affiliate):
        reply = await api.request("GET", f"transactions/{tx_id}", token=account.token)
        assert (reply.status, reply.errors) == (404, {"detail": "not found"}), account.role


async def test_a_missing_transaction_looks_exactly_like_a_forbidden_one(
    api: Api, admin: Account
) -> None:
    stranger = await api.account("user")
    missing = await api.request("GET", "transactions/987654", token=stranger.token)
    assert (missing.status, missing.errors) == (404, {"detail": "not found"})
    assert (await api.request("GET", "transactions/987654", token=admin.token)).status == 404


async def test_an_admin_refunds_a_completed_purchase_once(api: Api, admin: Account) -> None:
    affiliate = await api.account("affiliate")
    buyer = await api.account("user", balance_minor=10_00, referred_by=affiliate.id)
    tx_id = (await buy(api, buyer, await api.product(price_minor=5_00))).data["id"]
    refunded = await api.request("POST", f"transactions/{tx_id}/refund", token=admin.token)
    assert refunded.status == 200
    assert refunded.data["status"] == "refunded"
    assert [s["status"] for s in refunded.data["history"]] == ["pending", "completed", "refunded"]
    assert await balance(api, buyer) == 10_00
    again = await api.request("POST", f"transactions/{tx_id}/refund", token=admin.token)
    assert again.status == 409
    missing = await api.request("POST", "transactions/987654/refund", token=admin.token)
    assert missing.status == 404
    commissions = await api.request("GET", "commissions", token=affiliate.token)
    assert [c["reversed_at"] is not None for c in commissions.data] == [True]


async def test_an_affiliate_sees_their_commissions_and_an_admin_any_affiliates(
    api: Api, admin: Account
) -> None:
    affiliate = await api.account("affiliate")
    buyer = await api.account("user", balance_minor=10_00, referred_by=affiliate.id)
    tx_id = (await buy(api, buyer, await api.product(price_minor=5_00))).data["id"]
    own = await api.request("GET", "commissions", token=affiliate.token)
    assert own.status == 200
    assert [(c["transaction_id"], c["amount"]["amount_minor"]) for c in own.data] == [(tx_id, 50)]
    explicit = await api.request(
        "GET", f"commissions?affiliate_id={affiliate.id}", token=affiliate.token
    )
    assert explicit.data == own.data
    as_admin = await api.request(
        "GET", f"commissions?affiliate_id={affiliate.id}", token=admin.token
    )
    assert as_admin.data == own.data


async def test_commission_listing_refusals(api: Api, admin: Account) -> None:
    affiliate = await api.account("affiliate")
    other = await api.account("affiliate")
    snooping = await api.request(
        "GET", f"commissions?affiliate_id={other.id}", token=affiliate.token
    )
    assert snooping.status == 403
    unspecified = await api.request("GET", "commissions", token=admin.token)
    assert (unspecified.status, unspecified.errors) == (422, {"affiliate_id": ["can't be blank"]})
