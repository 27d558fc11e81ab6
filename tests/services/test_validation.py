from __future__ import annotations

import pytest

from bitnexus.services.validation import (
    FieldConflict,
    FieldErrors,
    ValidationFailed,
    check_currency,
    check_display_name,
    check_email,
    check_id,
    check_new_password,
    check_page,
)


def test_field_errors_collect_every_message_then_raise_them_together():
    errors = FieldErrors()
    assert errors.check("email", check_email, " a@b.co ") == "a@b.co"
    assert errors.check("email", check_email, "nope") is None
    errors.add("email", "is odd")
    check_page(errors, 0, -1)
    errors.check("currency", check_currency, "usd")

    with pytest.raises(ValidationFailed) as failed:
        errors.raise_if_any()

    assert failed.value.status == 422
    assert failed.value.errors == {
        "email": ["has invalid format", "is odd"],
        "limit": ["must be an integer from 1 to 1000"],
        "offset": ["must be an integer of at least 0"],
        "currency": ["must be three capital letters (ISO 4217)"],
    }
    FieldErrors().raise_if_any()  # nothing recorded, nothing raised


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "can't be blank"),
        ("   ", "can't be blank"),
        (None, "can't be blank"),
        ("no-at-sign.com", "has invalid format"),
        ("two@@example.com", "has invalid format"),
        ("spaces in@example.com", "has invalid format"),
        ("nodot@example", "has invalid format"),
        ("x" * 310 + "@example.com", "should be at most 320 characters"),
    ],
)
def test_bad_emails_are_refused_with_a_reason(value: object, message: str):
    with pytest.raises(ValueError, match=message):
        check_email(value)


def test_passwords_need_eight_to_1024_characters():
    assert check_new_password("12345678") == "12345678"
    for bad, message in (("1234567", "at least 8"), ("x" * 1025, "at most 1024"), (None, "blank")):
        with pytest.raises(ValueError, match=message):
            check_new_password(bad)


def test_display_names_are_trimmed_and_may_be_removed_with_null():
    assert check_display_name("  Ada ") == "Ada"
    assert check_display_name(None) is None
    for bad in ("  ", 7, "x" * 101):
        with pytest.raises(ValueError):
            check_display_name(bad)


def test_ids_are_positive_bigints_and_never_booleans():
    assert check_id(1) == 1
    for bad in (0, -1, True, "1", 1.0, 2**63):
        with pytest.raises(ValueError):
            check_id(bad)


def test_a_field_conflict_is_a_409_with_field_errors():
    conflict = FieldConflict("email", "has already been taken")
    assert (conflict.status, conflict.errors) == (409, {"email": ["has already been taken"]})
