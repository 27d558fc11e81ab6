"""``bitnexus gen channel NAME``: a new channel and its test, ready to run.

Example::

    $ bitnexus gen channel Chat --dir src/myapp/channels --tests tests
    created src/myapp/channels/chat_channel.py
    created tests/test_chat_channel.py
    $ pytest tests/test_chat_channel.py
"""

from __future__ import annotations

import re
from pathlib import Path

from bitnexus.exceptions import Misuse

__all__ = ["generate_channel"]

_CHANNEL = '''"""The {topic}:* channel.

Join with ``socket.channel("{topic}:lobby", {{name: "ada"}})`` from the phoenix
JS client, after adding ``("{topic}:*", {cls}Channel)`` to your Socket's
``channels``.
"""

from __future__ import annotations

from typing import Any

from bitnexus.channels import Channel, ChannelSocket, Error, NoReply, Ok, Reply


class {cls}Channel(Channel):
    """Members of one {topic} topic talk to each other."""

    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        name = payload.get("name") if isinstance(payload, dict) else None
        if not name:
            return Error({{"reason": "a name is required"}})
        socket.assign(name=name)
        self.pid.send("after_join")  # push from handle_info, once joined
        return Ok({{"welcome": name}})

    async def handle_info(self, message: Any, socket: ChannelSocket) -> Any:
        if message == "after_join":
            socket.broadcast("joined", {{"name": socket.assigns["name"]}})
        return None

    async def handle_in(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        if event == "ping":
            return Reply("ok", payload)
        if event == "say":
            text = payload.get("text") if isinstance(payload, dict) else None
            socket.broadcast("said", {{"name": socket.assigns["name"], "text": text}})
            return NoReply()
        return Reply("error", {{"reason": f"unknown event {{event}}"}})
'''

_TEST = '''"""Tests for {cls}Channel, with BitNexus's ChannelTest helpers (no network)."""

from __future__ import annotations

from typing import Any

from bitnexus.channels import Socket
from bitnexus.channels.testing import channel_test

from {module} import {cls}Channel


class _Socket(Socket):
    channels = [("{topic}:*", {cls}Channel)]

    async def connect(self, params: dict[str, Any], connect_info: dict[str, Any]) -> Any:
        return {{}}


async def test_joining_with_a_name_is_welcomed_and_announced() -> None:
    async with channel_test() as ct:
        socket = await ct.connect(_Socket)
        reply = await ct.subscribe_and_join(socket, "{topic}:lobby", {{"name": "ada"}})
        assert reply.status == "ok" and reply.response == {{"welcome": "ada"}}
        await ct.assert_broadcast("{topic}:lobby", "joined", {{"name": "ada"}})


async def test_joining_without_a_name_is_refused() -> None:
    async with channel_test() as ct:
        socket = await ct.connect(_Socket)
        reply = await ct.subscribe_and_join(socket, "{topic}:lobby", {{}})
        assert reply.status == "error"


async def test_ping_replies_and_say_reaches_everyone() -> None:
    async with channel_test() as ct:
        socket = await ct.connect(_Socket)
        await ct.subscribe_and_join(socket, "{topic}:lobby", {{"name": "ada"}})
        ref = ct.push(socket, "{topic}:lobby", "ping", {{"n": 1}})
        await ct.assert_reply(ref, "ok", {{"n": 1}})
        ct.push(socket, "{topic}:lobby", "say", {{"text": "hi"}})
        await ct.assert_broadcast("{topic}:lobby", "said", {{"name": "ada", "text": "hi"}})
'''


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def generate_channel(name: str, *, directory: Path, tests: Path) -> list[Path]:
    """Write ``<name>_channel.py`` into ``directory`` and its test into ``tests``.

    Args:
        name: a class-like name, e.g. ``Chat`` or ``GameRoom``.
        directory: where the channel module goes (must be importable from
            the tests, e.g. on ``sys.path`` or a package folder).
        tests: where the test module goes.

    Returns:
        The files written.

    Raises:
        Misuse: a bad name, or a file that already exists (never overwritten).
    """
    if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", name):
        raise Misuse(f"channel name {name!r} must look like a class name, e.g. Chat or GameRoom")
    snake = _snake(name)
    module_file = directory / f"{snake}_channel.py"
    test_file = tests / f"test_{snake}_channel.py"
    for path in (module_file, test_file):
        if path.exists():
            raise Misuse(f"{path} already exists; not overwriting it")
    module = f"{snake}_channel"
    values = {"cls": name, "topic": snake.replace("_", "-"), "module": module}
    directory.mkdir(parents=True, exist_ok=True)
    tests.mkdir(parents=True, exist_ok=True)
    module_file.write_text(_CHANNEL.format(**values))
    test_file.write_text(_TEST.format(**values))
    return [module_file, test_file]
