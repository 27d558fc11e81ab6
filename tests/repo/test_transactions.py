from __future__ import annotations

import asyncio

import pytest

from bitnexus.repo.database import Database
from bitnexus.repo.queries import (
    Conflict,
    IdempotencyConflict,
    NotFound,
    credit,
    get_transaction,
    get_transaction_history,
    get_user,
    list_all_transactions,
    list_commissions,
    list_transactions_for_affiliate,
    list_transactions_for_user,
    purchase,
    refund,
    update_product,
)
from bitnexus.repo.testing import make_product, make_user


async def _buy(db: Database, user_id: int, product_id: int, key: str | None = None,
               body: str = "body"):  # fmt: skip
    return await purchase(db, user_id=user_id, product_id=product_id, idempotency_key=key,
                          request_hash=body)  # fmt: skip


def _statuses(result) -> list[str]:
    return [change.status for change in result.history]


async def test_purchase_with_enough_money_debits_the_balance_and_completes(database: Database):
    buyer = await make_user(database, balance_minor=10_00)
    product = await make_product(database, price_minor=3_50)

    result = await _buy(database, buyer.id, product.id)

    assert result.transaction.status == "completed"
    assert (result.transaction.amount_minor, result.transaction.currency) == (3_50, "USD")
    assert _statuses(result) == ["pending", "completed"]
    assert result.history[0].at < result.history[1].at
    assert (result.commission, result.replayed) == (None, False)
    assert (await get_user(database, buyer.id)).balance_minor == 6_50


async def test_purchase_without_enough_money_is_a_committed_failed_transaction(
    database: Database,
):
    buyer = await make_user(database, balance_minor=1_00)
    product = await make_product(database, price_minor=3_50)

    result = await _buy(database, buyer.id, product.id)

    assert result.transaction.status == "failed"
    assert result.transaction.failure_reason == "insufficient_funds"
    assert _statuses(result) == ["pending", "failed"]
    assert result.history[-1].reason == "insufficient_funds"
    assert await get_transaction(database, result.transaction.id) == result.transaction
    assert (await get_user(database, buyer.id)).balance_minor == 1_00


async def test_purchase_in_another_currency_fails_without_charging(database: Database):
    buyer = await make_user(database, balance_minor=100_00, currency="USD")
    product = await make_product(database, price_minor=1_00, currency="EUR")
    result = await _buy(database, buyer.id, product.id)
    assert (result.transaction.status, result.transaction.failure_reason) == (
        "failed", "currency_mismatch",
    )  # fmt: skip
    assert (await get_user(database, buyer.id)).balance_minor == 100_00


async def test_buying_a_retired_or_missing_product_is_not_found_and_records_nothing(
    database: Database,
):
    buyer = await make_user(database, balance_minor=100_00)
    retired = await make_product(database, active=False)
    with pytest.raises(NotFound, match="not for sale"):
        await _buy(database, buyer.id, retired.id, key="k")
    with pytest.raises(NotFound):
        await _buy(database, buyer.id, 999)
    with pytest.raises(NotFound, match="user 999"):
        await _buy(database, 999, retired.id)
    assert await list_transactions_for_user(database, buyer.id) == []


async def test_fifty_concurrent_purchases_against_money_for_ten_complete_exactly_ten(
    database: Database,
):
    price = 7_00
    buyer = await make_user(database, balance_minor=10 * price + price - 1)
    product = await make_product(database, price_minor=price)

    results = await asyncio.gather(
        *(_buy(database, buyer.id, product.id, key=f"k{i}", body=f"b{i}") for i in range(50))
    )

    statuses = [r.transaction.status for r in results]
    assert statuses.count("completed") == 10
    assert statuses.count("failed") == 40
    assert (await get_user(database, buyer.id)).balance_minor == price - 1
    assert len(await list_transactions_for_user(database, buyer.id, limit=100)) == 50


async def test_retry_with_the_same_key_returns_the_original_and_charges_once(database: Database):
    buyer = await make_user(database, balance_minor=10_00)
    product = await make_product(database, price_minor=4_00)

    first = await _buy(database, buyer.id, product.id, key="order-1")
    again = await _buy(database, buyer.id, product.id, key="order-1")

    assert again.replayed is True
    assert again.transaction == first.transaction
    assert again.history == first.history
    assert (await get_user(database, buyer.id)).balance_minor == 6_00


async def test_concurrent_requests_with_the_same_key_charge_once(database: Database):
    buyer = await make_user(database, balance_minor=10_00)
    product = await make_product(database, price_minor=4_00)

    results = await asyncio.gather(*(_buy(database, buyer.id, product.id, key="k")
                                     for _ in range(5)))  # fmt: skip

    assert len({r.transaction.id for r in results}) == 1
    assert sorted(r.replayed for r in results) == [False, True, True, True, True]
    assert (await get_user(database, buyer.id)).balance_minor == 6_00


async def test_a_key_reused_with_a_different_request_is_idempotency_conflict_409(
    database: Database,
):
    buyer = await make_user(database, balance_minor=10_00)
    product = await make_product(database, price_minor=1_00)
    other = await make_product(database, price_minor=1_00)
    await _buy(database, buyer.id, product.id, key="k", body="one")

    with pytest.raises(IdempotencyConflict) as caught:
        await _buy(database, buyer.id, product.id, key="k", body="two")
    assert isinstance(caught.value, Conflict)
    assert caught.value.status == 409
    with pytest.raises(IdempotencyConflict):
        await _buy(database, buyer.id, other.id, key="k", body="one")
    assert (await get_user(database, buyer.id)).balance_minor == 9_00


async def test_a_replayed_failure_stays_failed_after_a_top_up(database: Database):
    buyer = await make_user(database, balance_minor=0)
    product = await make_product(database, price_minor=1_00)
    failed = await _buy(database, buyer.id, product.id, key="k")
    await credit(database, buyer.id, 5_00)

    again = await _buy(database, buyer.id, product.id, key="k")

    assert (again.transaction.status, again.replayed) == ("failed", True)
    assert again.transaction.id == failed.transaction.id
    assert (await _buy(database, buyer.id, product.id, key="k2")).transaction.status == "completed"


async def test_idempotency_keys_belong_to_one_user(database: Database):
    product = await make_product(database, price_minor=1_00)
    ada = await make_user(database, balance_minor=1_00)
    bo = await make_user(database, balance_minor=1_00)
    first = await _buy(database, ada.id, product.id, key="same")
    second = await _buy(database, bo.id, product.id, key="same")
    assert first.transaction.id != second.transaction.id
    assert not second.replayed


async def test_a_key_committed_by_a_writer_that_skipped_the_buyer_lock_is_replayed(
    database: Database,
):
    buyer = await make_user(database, balance_minor=10_00)
    product = await make_product(database, price_minor=1_00)
    async with database.acquire() as rogue:
        rogue_tx = rogue.transaction()
        await rogue_tx.start()
        rogue_id = await rogue.fetchval(
            "INSERT INTO transactions (user_id, product_id, amount_minor, currency, status,"
            " idempotency_key, request_hash) VALUES ($1, $2, 100, 'USD', 'completed', 'k', 'body')"
            " RETURNING id",
            buyer.id, product.id,
        )  # fmt: skip
        # Our purchase passes the key check, then waits on the unique index.
        racing = asyncio.ensure_future(_buy(database, buyer.id, product.id, key="k"))
        await asyncio.sleep(0.3)
        assert not racing.done()
        await rogue_tx.commit()
    result = await racing
    assert (result.transaction.id, result.replayed) == (rogue_id, True)
    assert (await get_user(database, buyer.id)).balance_minor == 10_00


async def test_purchase_on_a_held_connection_rolls_back_with_the_callers_transaction(
    database: Database,
):
    buyer = await make_user(database, balance_minor=5_00)
    product = await make_product(database, price_minor=1_00)
    with pytest.raises(RuntimeError):
        async with database.transaction() as conn:
            result = await _buy(conn, buyer.id, product.id)  # type: ignore[arg-type]
            assert result.transaction.status == "completed"
            raise RuntimeError("caller changes its mind")
    assert (await get_user(database, buyer.id)).balance_minor == 5_00
    assert await list_transactions_for_user(database, buyer.id) == []


async def test_referred_buyer_earns_the_affiliate_ten_percent_rounded_down(database: Database):
    affiliate = await make_user(database, role="affiliate")
    buyer = await make_user(database, balance_minor=100_00, referred_by=affiliate.id)
    product = await make_product(database, price_minor=9_99)

    result = await _buy(database, buyer.id, product.id)

    assert result.commission is not None
    assert (result.commission.affiliate_id, result.commission.amount_minor) == (affiliate.id, 99)
    assert result.commission.transaction_id == result.transaction.id
    assert await list_commissions(database, affiliate.id) == [result.commission]


async def test_a_referrer_who_is_not_an_affiliate_earns_nothing(database: Database):
    friend = await make_user(database, role="user")
    buyer = await make_user(database, balance_minor=100_00, referred_by=friend.id)
    product = await make_product(database, price_minor=10_00)
    assert (await _buy(database, buyer.id, product.id)).commission is None
    assert await list_commissions(database, friend.id) == []


async def test_refund_credits_the_buyer_and_reverses_the_commission(database: Database):
    affiliate = await make_user(database, role="affiliate")
    buyer = await make_user(database, balance_minor=20_00, referred_by=affiliate.id)
    product = await make_product(database, price_minor=15_00)
    bought = await _buy(database, buyer.id, product.id)

    refunded = await refund(database, bought.transaction.id)

    assert refunded.transaction.status == "refunded"
    assert _statuses(refunded) == ["pending", "completed", "refunded"]
    assert refunded.commission is not None and refunded.commission.reversed_at is not None
    assert (await get_user(database, buyer.id)).balance_minor == 20_00
    [commission] = await list_commissions(database, affiliate.id)
    assert commission.reversed_at is not None
    history = await get_transaction_history(database, bought.transaction.id)
    assert [change.status for change in history] == ["pending", "completed", "refunded"]


async def test_only_a_completed_transaction_can_be_refunded_and_only_once(database: Database):
    buyer = await make_user(database, balance_minor=1_00)
    product = await make_product(database, price_minor=1_00)
    bought = await _buy(database, buyer.id, product.id)
    failed = await _buy(database, buyer.id, product.id)

    outcomes = await asyncio.gather(
        refund(database, bought.transaction.id),
        refund(database, bought.transaction.id),
        return_exceptions=True,
    )
    assert sorted(type(o).__name__ for o in outcomes) == ["Conflict", "RefundResult"]
    with pytest.raises(Conflict, match="is failed"):
        await refund(database, failed.transaction.id)
    with pytest.raises(NotFound):
        await refund(database, 999)
    assert (await get_user(database, buyer.id)).balance_minor == 1_00


async def test_transactions_are_listed_per_user_per_affiliate_and_overall(database: Database):
    affiliate = await make_user(database, role="affiliate")
    referred = await make_user(database, balance_minor=100_00, referred_by=affiliate.id)
    stranger = await make_user(database, balance_minor=100_00)
    product = await make_product(database, price_minor=1_00)
    mine = [(await _buy(database, referred.id, product.id)).transaction for _ in range(3)]
    theirs = (await _buy(database, stranger.id, product.id)).transaction
    await update_product(database, product.id, price_minor=1_000_00)
    failed = (await _buy(database, stranger.id, product.id)).transaction

    newest_first = [t.id for t in reversed(mine)]
    assert [t.id for t in await list_transactions_for_user(database, referred.id)] == newest_first
    assert [t.id for t in await list_transactions_for_affiliate(database, affiliate.id)] == (
        newest_first
    )
    assert await list_transactions_for_affiliate(database, stranger.id) == []
    everything = await list_all_transactions(database, limit=2, offset=0)
    assert [t.id for t in everything] == [failed.id, theirs.id]
    assert [t.id for t in await list_all_transactions(database, status="failed")] == [failed.id]
    with pytest.raises(NotFound):
        await get_transaction(database, 999)
