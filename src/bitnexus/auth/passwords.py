"""Password hashing with argon2id.

Hashing and verifying are deliberately slow and CPU-bound (tens of
milliseconds and 64 MiB by default) and they **block**: never call them on
the event loop. Run them on a thread actor (``actors/threaded.py``), where
argon2's C code releases the GIL.

Example::

    hasher = PasswordHasher()
    stored = hasher.hash("correct horse")        # "$argon2id$v=19$m=65536,t=3,p=4$..."
    if hasher.verify(stored, attempt) and hasher.needs_rehash(stored):
        stored = hasher.hash(attempt)            # upgrade to the current cost
"""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.profiles import RFC_9106_LOW_MEMORY

from bitnexus.exceptions import ConfigError, Refused

__all__ = ["MAX_PASSWORD_LENGTH", "PasswordHasher", "PasswordRejected"]

#: Longest password accepted, in characters. Long enough for any passphrase or
#: password manager, short enough that nobody makes us hash megabytes.
MAX_PASSWORD_LENGTH = 1024


class PasswordRejected(Refused):
    """A new password is unacceptable (empty or too long); answer 422.

    Attributes:
        reason: ``"empty"`` or ``"too_long"``.
    """

    status = 422

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class PasswordHasher:
    """argon2id hashing with explicit cost parameters. All methods block.

    Args:
        time_cost: iterations (default 3, RFC 9106 low-memory profile).
        memory_cost: KiB of memory per hash (default 65536 = 64 MiB).
        parallelism: lanes (default 4).

    Raises:
        ConfigError: parameters argon2 would refuse.

    Example::

        PasswordHasher()                                        # production
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)   # tests only
    """

    def __init__(
        self,
        *,
        time_cost: int = RFC_9106_LOW_MEMORY.time_cost,
        memory_cost: int = RFC_9106_LOW_MEMORY.memory_cost,
        parallelism: int = RFC_9106_LOW_MEMORY.parallelism,
    ) -> None:
        if time_cost < 1 or parallelism < 1 or memory_cost < 8 * parallelism:
            raise ConfigError(
                "argon2 needs time_cost >= 1, parallelism >= 1, memory_cost >= 8 * parallelism; "
                f"got t={time_cost} m={memory_cost} p={parallelism}"
            )
        self._hasher = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_cost,
            parallelism=parallelism,
            hash_len=RFC_9106_LOW_MEMORY.hash_len,
            salt_len=RFC_9106_LOW_MEMORY.salt_len,
            type=argon2.Type.ID,
        )
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """Hash a new password (blocks for the full argon2 cost).

        Returns:
            The encoded hash, ``$argon2id$v=19$m=...,t=...,p=...$salt$hash``.

        Raises:
            PasswordRejected: empty or longer than ``MAX_PASSWORD_LENGTH``.

        Example::

            stored = hasher.hash("correct horse")
        """
        if not isinstance(password, str) or not password:
            raise PasswordRejected("empty", "password must not be empty")
        if len(password) > MAX_PASSWORD_LENGTH:
            raise PasswordRejected(
                "too_long", f"password must be at most {MAX_PASSWORD_LENGTH} characters"
            )
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash`` (blocks).

        Never raises for bad input: a wrong, empty or over-long password,
        or a malformed stored hash, all give ``False``.

        Example::

            if not hasher.verify(user.password_hash, form["password"]):
                raise InvalidCredentials()
        """
        if not isinstance(stored_hash, str) or not isinstance(password, str):
            return False
        if not password or len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether ``stored_hash`` was made with other parameters than ours.

        Call it after a successful :meth:`verify` and store a fresh hash of
        the password when it says ``True``. A malformed hash also gives
        ``True``: it should be replaced.

        Example::

            if hasher.needs_rehash(stored):
                stored = hasher.hash(password)
        """
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except (InvalidHashError, ValueError, TypeError):
            return True

    def dummy_verify(self, password: str) -> bool:
        """Spend the time of a real :meth:`verify`, then return ``False``.

        Call it when the user does not exist, so that the response time does
        not reveal which emails have accounts.

        Example::

            if user is None:
                hasher.dummy_verify(form["password"])
                raise InvalidCredentials()
        """
        if self._dummy is None:
            self._dummy = self._hasher.hash("bitnexus-dummy-password")
        self.verify(self._dummy, password)
        return False
