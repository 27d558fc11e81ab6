"""Every error BitNexus raises, under three roots.

- :class:`Refused`: a peer, a client, the database or a remote process said no.
  Expected in normal operation; callers handle it.
- :class:`Misuse`: our API was used wrongly (a bad child spec, a bad callback
  result). Fix the calling code.
- :class:`InternalError`: a bug in BitNexus itself.

Errors that can reach a client carry an HTTP ``status`` and, where it applies,
a WebSocket ``close_code``.

Example::

    try:
        await pid.call("ping", timeout=1.0)
    except CallTimeout:
        ...  # the server is slow; it still handles the request later
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BadCallbackResult",
    "BitnexusError",
    "CallTimeout",
    "ConfigError",
    "InternalError",
    "Misuse",
    "NameTaken",
    "NoProcess",
    "ProcessExited",
    "ProtocolError",
    "Refused",
    "StartError",
]


class BitnexusError(Exception):
    """Root of every BitNexus error.

    Attributes:
        status: HTTP status to answer with when this error reaches a client.
        close_code: WebSocket close code, when the error closes a socket.
    """

    status: int = 500
    close_code: int | None = None


class Refused(BitnexusError):
    """A peer, client, database or process said no. Expected; handle it."""

    status = 400


class Misuse(BitnexusError):
    """The BitNexus API was used wrongly. Fix the calling code."""


class InternalError(BitnexusError):
    """A bug in BitNexus. Please report it with the log line."""


class ConfigError(Misuse):
    """A setting is missing, has the wrong type, or an impossible value."""


class NoProcess(Refused):
    """The target process is not alive (or the name is not registered).

    Raised at once by ``call`` on a dead pid, and by ``send``/``cast`` to an
    unregistered *name* (a dead pid just drops the message, as on the BEAM).
    """

    status = 503

    def __init__(self, target: Any, detail: str = "") -> None:
        self.target = target
        super().__init__(f"no process: {target}" + (f" ({detail})" if detail else ""))


class CallTimeout(Refused):
    """A ``call`` got no reply in time. The callee still handles the request;
    its late reply is discarded."""

    status = 503

    def __init__(self, target: Any, request: Any, timeout: float) -> None:
        self.target = target
        self.request = request
        self.timeout = timeout
        super().__init__(f"call to {target} timed out after {timeout}s: {request!r:.200}")


class ProcessExited(Refused):
    """The callee exited while a ``call`` was waiting for it.

    Attributes:
        pid: the process that exited.
        reason: its exit reason (``"normal"``, ``"shutdown"``, ``"killed"``,
            ``("shutdown", term)`` or the exception it crashed with).
    """

    status = 503

    def __init__(self, pid: Any, reason: Any) -> None:
        self.pid = pid
        self.reason = reason
        super().__init__(f"{pid} exited: {reason!r:.300}")


class NameTaken(Refused):
    """A unique name is already registered to another live process."""

    status = 409

    def __init__(self, name: Any, holder: Any) -> None:
        self.name = name
        self.holder = holder
        super().__init__(f"name {name!r} is already registered to {holder}")


class StartError(Refused):
    """A process (or a supervisor's child) failed to start.

    Attributes:
        reason: why it failed, in OTP terms, e.g.
            ``("shutdown", ("failed_to_start_child", "db", exc))``.
    """

    def __init__(self, reason: Any) -> None:
        self.reason = reason
        super().__init__(f"failed to start: {reason!r:.500}")


class BadCallbackResult(Misuse):
    """An actor callback returned something outside its closed result set."""

    def __init__(self, actor: Any, callback: str, got: Any, allowed: str) -> None:
        self.callback = callback
        self.got = got
        super().__init__(
            f"{type(actor).__name__}.{callback} returned {got!r:.200}; expected one of: {allowed}"
        )


class ProtocolError(Refused):
    """A client sent a frame that cannot be decoded (bad JSON, wrong arity,
    unknown binary kind, oversized field). The connection is closed with 1011."""

    status = 400
    close_code = 1011
