"""Logging: structlog in front, the stdlib behind, one output format.

:func:`configure_logging` installs one handler on the root logger whose
formatter renders both structlog events and plain stdlib records (aiohttp,
asyncpg, …), so every line has the same shape: ISO timestamp, level, logger
name, event and bound context. ``format="json"`` gives one JSON object per
line; anything else gives human-readable console lines.

The structlog side (processor chain, stdlib logger factory) is configured once
when this module is imported, because it never changes; loggers created at
import time elsewhere are therefore correct. Only the output (handler, level,
renderer) depends on :func:`configure_logging`.

Example::

    configure_logging(settings.log)
    log = get_logger("bitnexus.web", request_id="r-1")
    log.info("request_done", status=200)
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import orjson
import structlog

from bitnexus.config import LogSettings

__all__ = ["bind_process", "configure_logging", "get_logger"]

# The handler we installed, so reconfiguring replaces ours and leaves
# everybody else's (pytest's capture handlers, for one) alone.
_installed: dict[str, Any] = {"handler": None, "key": None, "stream": None}


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that looks ``sys.stderr`` up on every record, so output
    follows redirections made after configuration (pytest's capsys)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]

structlog.configure(
    processors=[
        structlog.stdlib.filter_by_level,
        *_SHARED,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
    ],
    logger_factory=structlog.stdlib.LoggerFactory(),
    wrapper_class=structlog.stdlib.BoundLogger,
    # Rendering happens in the handler installed by configure_logging, so this
    # chain never changes and cached loggers stay correct.
    cache_logger_on_first_use=True,
)


def _json_dumps(obj: Any, **_kw: Any) -> str:
    return orjson.dumps(obj, default=repr).decode()


def configure_logging(
    level: LogSettings | str = "info",
    fmt: str | None = None,
    *,
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging to one handler on the root logger.

    Calling it again with the same arguments does nothing; with different
    arguments it replaces the handler it installed before.

    Args:
        level: a ``LogSettings`` section or a level name (``"debug"`` …
            ``"critical"``).
        fmt: ``"json"`` or ``"console"``; defaults to the section's format,
            else ``"console"``.
        stream: where lines go; defaults to the current ``sys.stderr``.

    Example::

        configure_logging("debug", "json", stream=io.StringIO())
    """
    if isinstance(level, LogSettings):
        fmt = fmt or level.format
        level = level.level
    fmt = fmt or "console"
    key = (level, fmt)
    root = logging.getLogger()
    if (
        _installed["key"] == key
        and _installed["stream"] is stream
        and _installed["handler"] in root.handlers
    ):
        return

    renderer: list[Any]
    foreign: list[Any] = list(_SHARED)
    if fmt == "json":
        # Stdlib ``extra=`` fields (aiohttp's access log has many) become JSON
        # fields; on the console they would repeat what the message says.
        foreign.append(structlog.stdlib.ExtraAdder())
        renderer = [
            # No locals: they would put secrets and payloads into the logs.
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            structlog.processors.JSONRenderer(serializer=_json_dumps),
        ]
    else:
        # ConsoleRenderer formats exceptions itself; adding format_exc_info
        # here would make structlog warn.
        colors = (stream or sys.stderr).isatty()
        renderer = [structlog.dev.ConsoleRenderer(colors=colors)]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=foreign,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler: logging.Handler = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.setFormatter(formatter)

    if _installed["handler"] is not None:
        root.removeHandler(_installed["handler"])
    root.addHandler(handler)
    root.setLevel(logging.getLevelName(level.upper()))
    _installed.update(handler=handler, key=key, stream=stream)


def get_logger(name: str, **bind: Any) -> structlog.stdlib.BoundLogger:
    """A named logger with ``bind`` values attached to every event.

    Example::

        log = get_logger("bitnexus.channels", topic="room:lobby")
        log.warning("join_refused", reason="unauthorized")
    """
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger.bind(**bind) if bind else logger


def bind_process(
    logger: structlog.stdlib.BoundLogger, pid: object, name: str | None
) -> structlog.stdlib.BoundLogger:
    """Attach a process's pid and name to a logger.

    Example::

        log = bind_process(get_logger("bitnexus.actors"), pid, "accounts.worker.1")
    """
    return logger.bind(pid=str(pid), process=name)
