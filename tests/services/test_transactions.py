from __future__ import annotations

import asyncio

import pytest

from bitnexus.repo import Conflict, IdempotencyConflict, NotFound, queries
from bitnexus.repo.testing import make_product, make_user
from bitnexus.services import ServicePool, TransactionsService, ValidationFailed
from bitnexus.supervision import Application

from .conftest import Recorder, Services


async def buy(services: Services, user_id: int, product_id: int, key: str | None = None):
    return await services.transactions.call(
        "purchase", user_id=user_id, product_id=product_id, idempotency_key=key
    )


async def balance(services: Services, user_id: int) -> int:
    return (await queries.get_user(services.db, user_id)).balance_minor


async def test_a_purchase_debits_the_buyer_and_announces_each_step(services: Services):
    affiliate = await make_user(services.db, role="affiliate")
    buyer = await make_user(services.db, balance_minor=10_00, referred_by=affiliate.id)
    product = await make_product(services.db, price_minor=4_00)

    result = await buy(services, buyer.id, product.id)

    tx = result.transaction
    assert (tx.status, result.replayed, await balance(services, buyer.id)) == (
        "completed", False, 6_00,
    )  # fmt: skip
    steps = services.notified.on(f"transaction:{tx.id}", "status")
    assert [(s["id"], s["status"], s["previous"]) for s in steps] == [
        (tx.id, "pending", None),
        (tx.id, "completed", "pending"),
    ]
    assert steps[1]["at"] == result.history[1].at.isoformat()
    [note] = services.notified.on(f"notification:{buyer.id}", "transaction")
    assert note == {
        "id": tx.id,
        "user_id": buyer.id,
        "product_id": product.id,
        "amount": {"amount_minor": 4_00, "currency": "USD"},
        "status": "completed",
        "failure_reason": None,
        "created_at": tx.created_at.isoformat(),
        "updated_at": tx.updated_at.isoformat(),
    }
    [commission] = services.notified.on(f"notification:{affiliate.id}", "commission")
    assert (commission["transaction_id"], commission["amount"], commission["reversed_at"]) == (
        tx.id, {"amount_minor": 40, "currency": "USD"}, None,
    )  # fmt: skip
    assert len(services.notified.calls) == 4


async def test_a_retried_purchase_returns_the_first_outcome_and_charges_once(services: Services):
    buyer = await make_user(services.db, balance_minor=10_00)
    product = await make_product(services.db, price_minor=4_00)
    first = await buy(services, buyer.id, product.id, key="order-1")
    announced = len(services.notified.calls)

    again = await buy(services, buyer.id, product.id, key="order-1")

    assert again.replayed is True
    assert again.transaction == first.transaction
    assert await balance(services, buyer.id) == 6_00
    assert len(services.notified.calls) == announced  # a replay announces nothing
    with pytest.raises(IdempotencyConflict):
        await buy(services, buyer.id, (await make_product(services.db)).id, key="order-1")


async def test_concurrent_retries_with_one_key_charge_once(services: Services):
    buyer = await make_user(services.db, balance_minor=100_00)
    product = await make_product(services.db, price_minor=1_00)

    results = await asyncio.gather(*(buy(services, buyer.id, product.id, "k") for _ in range(20)))

    assert len({r.transaction.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert await balance(services, buyer.id) == 99_00


async def test_fifty_concurrent_purchases_against_ten_purchases_of_money_complete_ten(
    services: Services,
):
    affiliate = await make_user(services.db, role="affiliate")
    buyer = await make_user(services.db, balance_minor=10 * 3_00, referred_by=affiliate.id)
    product = await make_product(services.db, price_minor=3_00)

    results = await asyncio.gather(*(buy(services, buyer.id, product.id) for _ in range(50)))

    statuses = [r.transaction.status for r in results]
    assert statuses.count("completed") == 10
    assert statuses.count("failed") == 40
    assert {r.transaction.failure_reason for r in results if r.transaction.status == "failed"} == {
        "insufficient_funds"
    }
    assert await balance(services, buyer.id) == 0
    commissions = await queries.list_commissions(services.db, affiliate.id, limit=100)
    assert len(commissions) == 10 and sum(c.amount_minor for c in commissions) == 10 * 30
    assert len(services.notified.on(f"notification:{affiliate.id}", "commission")) == 10
    assert len(services.notified.on(f"notification:{buyer.id}", "transaction")) == 50


async def test_a_purchase_without_enough_money_fails_and_says_so(services: Services):
    buyer = await make_user(services.db, balance_minor=1_00)
    product = await make_product(services.db, price_minor=4_00)

    result = await buy(services, buyer.id, product.id)

    assert (result.transaction.status, result.transaction.failure_reason) == (
        "failed", "insufficient_funds",
    )  # fmt: skip
    steps = services.notified.on(f"transaction:{result.transaction.id}", "status")
    assert [(s["status"], s["reason"]) for s in steps] == [
        ("pending", None), ("failed", "insufficient_funds"),
    ]  # fmt: skip
    assert await balance(services, buyer.id) == 1_00


async def test_purchases_of_missing_or_retired_products_or_with_bad_keys_are_refused(
    services: Services,
):
    buyer = await make_user(services.db, balance_minor=10_00)
    retired = await make_product(services.db, active=False)

    with pytest.raises(NotFound):
        await buy(services, buyer.id, retired.id)
    with pytest.raises(NotFound):
        await buy(services, buyer.id, 987_654)
    for key in ("", "x" * 256, "tab\there", 7):
        with pytest.raises(ValidationFailed) as failed:
            await buy(services, buyer.id, retired.id, key=key)  # type: ignore[arg-type]
        assert set(failed.value.errors) == {"idempotency_key"}
    assert services.notified.calls == []


async def test_a_refund_credits_the_buyer_reverses_the_commission_and_announces_it(
    services: Services,
):
    affiliate = await make_user(services.db, role="affiliate")
    buyer = await make_user(services.db, balance_minor=10_00, referred_by=affiliate.id)
    product = await make_product(services.db, price_minor=4_00)
    tx = (await buy(services, buyer.id, product.id)).transaction
    services.notified.calls.clear()

    result = await services.transactions.call("refund", transaction_id=tx.id)

    assert result.transaction.status == "refunded"
    assert result.commission is not None and result.commission.reversed_at is not None
    assert await balance(services, buyer.id) == 10_00
    [step] = services.notified.on(f"transaction:{tx.id}", "status")
    assert (step["status"], step["previous"]) == ("refunded", "completed")
    [note] = services.notified.on(f"notification:{buyer.id}", "transaction")
    assert note["status"] == "refunded"
    [commission] = services.notified.on(f"notification:{affiliate.id}", "commission")
    assert commission["reversed_at"] == result.commission.reversed_at.isoformat()
    with pytest.raises(Conflict):
        await services.transactions.call("refund", transaction_id=tx.id)
    with pytest.raises(NotFound):
        await services.transactions.call("refund", transaction_id=987_654)


async def test_get_transaction_returns_it_with_its_history(services: Services):
    buyer = await make_user(services.db, balance_minor=10_00)
    tx = (await buy(services, buyer.id, (await make_product(services.db)).id)).transaction

    found, history = await services.transactions.call("get_transaction", transaction_id=tx.id)

    assert found == tx
    assert [h.status for h in history] == ["pending", "completed"]
    with pytest.raises(NotFound):
        await services.transactions.call("get_transaction", transaction_id=987_654)


async def test_each_role_lists_exactly_the_transactions_it_may_see(services: Services):
    admin = await make_user(services.db, role="admin", balance_minor=10_00)
    affiliate = await make_user(services.db, role="affiliate", balance_minor=10_00)
    referred = await make_user(services.db, balance_minor=10_00, referred_by=affiliate.id)
    stranger = await make_user(services.db, balance_minor=10_00)
    product = await make_product(services.db, price_minor=1_00)
    own = {}
    for user in (admin, affiliate, referred, stranger):
        own[user.id] = (await buy(services, user.id, product.id)).transaction.id

    async def visible(user_id: int, role: str) -> list[int]:
        txs = await services.transactions.call(
            "list_transactions", principal_user_id=user_id, role=role, limit=50, offset=0
        )
        return [t.id for t in txs]

    assert await visible(stranger.id, "user") == [own[stranger.id]]
    assert await visible(referred.id, "user") == [own[referred.id]]
    assert await visible(affiliate.id, "affiliate") == [own[referred.id], own[affiliate.id]]
    assert await visible(admin.id, "admin") == sorted(own.values(), reverse=True)
    with pytest.raises(ValidationFailed):
        await services.transactions.call(
            "list_transactions", principal_user_id=admin.id, role="admin", limit=0, offset=0
        )


async def test_can_view_allows_the_owner_the_referring_affiliate_and_admins(services: Services):
    admin = await make_user(services.db, role="admin")
    affiliate = await make_user(services.db, role="affiliate")
    buyer = await make_user(services.db, balance_minor=10_00, referred_by=affiliate.id)
    stranger = await make_user(services.db)
    tx = (await buy(services, buyer.id, (await make_product(services.db)).id)).transaction

    async def can(user_id: int, role: str, tx_id: object) -> bool:
        return await services.transactions.call(
            "can_view", user_id=user_id, role=role, transaction_id=tx_id
        )

    assert await can(buyer.id, "user", tx.id) is True
    assert await can(affiliate.id, "affiliate", tx.id) is True
    assert await can(admin.id, "admin", tx.id) is True
    assert await can(stranger.id, "user", tx.id) is False
    assert await can(affiliate.id, "user", tx.id) is False  # the role, not just the id
    for missing in (987_654, 0, "1", 2**63):
        assert await can(admin.id, "admin", missing) is False


async def test_commissions_are_listed_for_their_affiliate(services: Services):
    affiliate = await make_user(services.db, role="affiliate")
    buyer = await make_user(services.db, balance_minor=10_00, referred_by=affiliate.id)
    tx = (await buy(services, buyer.id, (await make_product(services.db)).id)).transaction

    [commission] = await services.transactions.call(
        "list_commissions", affiliate_id=affiliate.id, limit=10, offset=0
    )

    assert (commission.transaction_id, commission.amount_minor) == (tx.id, 1_00)
    assert (
        await services.transactions.call(
            "list_commissions", affiliate_id=buyer.id, limit=10, offset=0
        )
        == []
    )


async def test_a_failing_notify_does_not_undo_or_fail_the_purchase(services: Services):
    def broken(topic: str, event: str, payload: dict) -> None:
        raise RuntimeError("pubsub is down")

    pool = ServicePool(
        "test.broken", lambda: TransactionsService(services.db, notify=broken), size=1
    )
    buyer = await make_user(services.db, balance_minor=10_00)
    product = await make_product(services.db, price_minor=4_00)
    async with Application([pool.child_spec()], node=services.node, name="test.broken.app"):
        result = await pool.call("purchase", user_id=buyer.id, product_id=product.id)

    assert result.transaction.status == "completed"
    assert await balance(services, buyer.id) == 6_00


async def test_without_notify_nothing_is_announced_and_purchases_still_work(services: Services):
    recorder = Recorder()
    service = TransactionsService(services.db)
    buyer = await make_user(services.db, balance_minor=10_00)

    result = await service.purchase(buyer.id, (await make_product(services.db)).id)

    assert result.transaction.status == "completed"
    assert recorder.calls == []
