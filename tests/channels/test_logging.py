"""Connect, join and handle_in log lines (Phoenix integration cases 13-15)."""

from __future__ import annotations

import logging
from typing import Any

from bitnexus.channels.logging import FILTERED, filter_params

from .support import running_server, ws_client


def test_filter_params_hides_every_secret_key_at_any_depth() -> None:
    params = {"user": "ada", "password": "p", "nested": {"api_token": "t", "ok": [{"secret": 1}]}}
    assert filter_params(params) == {
        "user": "ada",
        "password": FILTERED,
        "nested": {"api_token": FILTERED, "ok": [{"secret": FILTERED}]},
    }


async def test_a_connect_logs_socket_transport_serializer_and_filtered_params(caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="bitnexus.channels")
    async with running_server() as srv:
        url = srv.ws_url("/ws", "vsn=2.0.0&logging=enabled&password=hunter2")
        async with ws_client(url) as client:
            await client.send(["1", "1", "room:log", "phx_join", {"user": "ada", "password": "x"}])
            await client.recv_until(lambda f: f[3] == "phx_reply")
    connect = [r.getMessage() for r in caplog.records if "CONNECTED TO" in r.getMessage()]
    assert connect, caplog.text
    assert "UserSocket" in connect[0] and "websocket" in connect[0]
    assert "V2.JSONSerializer" in connect[0]
    assert "'vsn': '2.0.0'" in connect[0] and "'logging': 'enabled'" in connect[0]
    assert "hunter2" not in caplog.text and FILTERED in connect[0]
    join = [r.getMessage() for r in caplog.records if "JOINED room:log" in r.getMessage()]
    assert join and FILTERED in join[0] and "'user': 'ada'" in join[0]


async def test_without_connect_logging_a_connect_logs_nothing(caplog: Any) -> None:
    caplog.set_level(logging.INFO, logger="bitnexus.channels")
    async with (
        running_server(log_connect=False) as srv,
        ws_client(srv.ws_url("/ws", "vsn=2.0.0")) as client,
    ):
        await client.send([None, "1", "phoenix", "heartbeat", {}])
        await client.recv()
    assert not [r for r in caplog.records if "CONNECTED TO" in r.getMessage()]


async def test_handle_in_is_logged_at_debug_with_filtered_params(caplog: Any) -> None:
    caplog.set_level(logging.DEBUG, logger="bitnexus.channels")
    async with running_server() as srv, ws_client(srv.ws_url("/ws", "vsn=2.0.0")) as client:
        await client.send(["1", "1", "room:dbg", "phx_join", {}])
        await client.recv_until(lambda f: f[3] == "phx_reply")
        await client.send(["1", "2", "room:dbg", "echo", {"password": "hunter2", "a": 1}])
        await client.recv_until(lambda f: f[1] == "2")
    handled = [r.getMessage() for r in caplog.records if "HANDLED echo" in r.getMessage()]
    assert handled and FILTERED in handled[0] and "hunter2" not in caplog.text

