from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitnexus.auth.passwords import MAX_PASSWORD_LENGTH, PasswordHasher, PasswordRejected
from bitnexus.exceptions import ConfigError, Refused

CHEAP = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(**CHEAP)


def test_hashed_password_verifies(hasher: PasswordHasher) -> None:
    stored = hasher.hash("correct horse battery staple")
    assert hasher.verify(stored, "correct horse battery staple") is True


def test_wrong_password_does_not_verify(hasher: PasswordHasher) -> None:
    stored = hasher.hash("correct horse battery staple")
    assert hasher.verify(stored, "correct horse battery stapler") is False


def test_hash_is_an_argon2id_encoded_string_with_our_parameters(hasher: PasswordHasher) -> None:
    stored = hasher.hash("pw")
    assert re.fullmatch(r"\$argon2id\$v=19\$m=8,t=1,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+", stored)


def test_same_password_hashes_differently_each_time(hasher: PasswordHasher) -> None:
    assert hasher.hash("pw") != hasher.hash("pw")


def test_default_cost_is_the_rfc_9106_low_memory_profile() -> None:
    stored = PasswordHasher().hash("pw")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_hash_needs_rehash_after_the_cost_parameters_change(hasher: PasswordHasher) -> None:
    stored = hasher.hash("pw")
    assert hasher.needs_rehash(stored) is False
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    assert stronger.needs_rehash(stored) is True
    assert stronger.verify(stored, "pw") is True  # old hashes still log in


@pytest.mark.parametrize(
    "stored",
    ["", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$garbage", "$2b$12$abcdefghijklmnopqrstuv"],
)
def test_malformed_stored_hash_gives_false_not_an_error(
    hasher: PasswordHasher, stored: str
) -> None:
    assert hasher.verify(stored, "pw") is False
    assert hasher.needs_rehash(stored) is True


def test_empty_or_over_long_password_never_verifies(hasher: PasswordHasher) -> None:
    stored = hasher.hash("x")
    assert hasher.verify(stored, "") is False
    assert hasher.verify(stored, "x" * (MAX_PASSWORD_LENGTH + 1)) is False


def test_empty_password_is_rejected_with_422(hasher: PasswordHasher) -> None:
    with pytest.raises(PasswordRejected) as info:
        hasher.hash("")
    assert (info.value.status, info.value.reason) == (422, "empty")
    assert isinstance(info.value, Refused)


def test_password_over_1024_characters_is_rejected(hasher: PasswordHasher) -> None:
    assert hasher.verify(hasher.hash("é" * MAX_PASSWORD_LENGTH), "é" * MAX_PASSWORD_LENGTH)
    with pytest.raises(PasswordRejected) as info:
        hasher.hash("é" * (MAX_PASSWORD_LENGTH + 1))
    assert info.value.reason == "too_long"


def test_dummy_verify_never_succeeds(hasher: PasswordHasher) -> None:
    assert hasher.dummy_verify("anything") is False
    assert hasher.dummy_verify("bitnexus-dummy-password") is False


@pytest.mark.parametrize(
    "params",
    [
        {"time_cost": 0, "memory_cost": 8, "parallelism": 1},
        {"time_cost": 1, "memory_cost": 8, "parallelism": 2},
        {"time_cost": 1, "memory_cost": 8, "parallelism": 0},
    ],
)
def test_impossible_cost_parameters_are_refused(params: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        PasswordHasher(**params)


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=64))
def test_any_unicode_password_round_trips(password: str) -> None:
    hasher = PasswordHasher(**CHEAP)
    stored = hasher.hash(password)
    assert hasher.verify(stored, password)
    assert not hasher.verify(stored, password + "x")
