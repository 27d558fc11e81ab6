from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from bitnexus.config import LogSettings
from bitnexus.log import bind_process, configure_logging, get_logger


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    """configure_logging changes the process-wide root logger; put it back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    configure_logging("warning", "console")
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_format_emits_one_parseable_object_per_event() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    get_logger("bitnexus.test", request_id="r-1").info("request_done", status=200)

    [event] = lines(out)
    assert event["event"] == "request_done"
    assert event["level"] == "info"
    assert event["logger"] == "bitnexus.test"
    assert event["request_id"] == "r-1"
    assert event["status"] == 200
    assert str(event["timestamp"]).startswith("20")


def test_events_below_the_level_are_dropped() -> None:
    out = io.StringIO()
    configure_logging(LogSettings(level="warning", format="json"), stream=out)
    log = get_logger("bitnexus.test")
    log.info("too_chatty")
    log.warning("worth_seeing")
    assert [e["event"] for e in lines(out)] == ["worth_seeing"]


def test_stdlib_records_come_out_in_the_same_json_shape() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    logging.getLogger("aiohttp.access").info("GET %s %d", "/healthz", 200)

    [event] = lines(out)
    assert event["event"] == "GET /healthz 200"
    assert event["logger"] == "aiohttp.access"
    assert event["level"] == "info"
    assert "timestamp" in event


def test_exceptions_are_structured_in_json() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    try:
        raise ValueError("bad frame")
    except ValueError:
        get_logger("bitnexus.test").exception("handler_crashed")

    [event] = lines(out)
    assert event["level"] == "error"
    assert "bad frame" in json.dumps(event["exception"])


def test_bind_process_adds_pid_and_name_to_every_event() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    log = bind_process(get_logger("bitnexus.actors"), "<0.42.0>", "accounts.worker")
    log.info("started")
    log.info("stopped")
    assert [(e["pid"], e["process"]) for e in lines(out)] == [
        ("<0.42.0>", "accounts.worker"),
        ("<0.42.0>", "accounts.worker"),
    ]


def test_console_format_writes_readable_lines_to_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "console")
    get_logger("bitnexus.test").info("console_works", answer=42)
    try:
        raise RuntimeError("shown with traceback")
    except RuntimeError:
        get_logger("bitnexus.test").exception("crashed")

    err = capsys.readouterr().err
    assert "console_works" in err
    assert "answer=42" in err
    assert "bitnexus.test" in err
    assert "RuntimeError: shown with traceback" in err


def test_configuring_twice_installs_one_handler() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    configure_logging("info", "json", stream=out)
    get_logger("bitnexus.test").info("once")
    assert len(lines(out)) == 1


def test_reconfiguring_switches_the_output() -> None:
    first, second = io.StringIO(), io.StringIO()
    log = get_logger("bitnexus.test")
    configure_logging("info", "json", stream=first)
    log.info("to_first")
    configure_logging("info", "json", stream=second)
    log.info("to_second")
    assert [e["event"] for e in lines(first)] == ["to_first"]
    assert [e["event"] for e in lines(second)] == ["to_second"]


async def test_a_crash_report_carries_the_pid_and_name_as_json_fields() -> None:
    import io

    from bitnexus.actors import Actor, Node
    from bitnexus.log import configure_logging

    class Crasher(Actor):
        async def handle_cast(self, message: object) -> None:
            raise RuntimeError("boom")

    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    node = Node()
    pid = node.spawn(Crasher, name="crasher")
    done = pid._proc.wait_exit()  # type: ignore[union-attr]
    pid.cast("go")
    await asyncio.wait_for(done, 5)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    report = next(line for line in lines if "exited" in line["event"])
    assert report["pid"] == str(pid)
    assert report["registered_name"] == "crasher"
    assert report["kind"] == "worker"
    assert report["level"] == "error"
