"""The WebSocket reader routes frames itself only while the connection process
has nothing pending (``Routes``): frames are still handled in exactly the order
the connection would handle them."""

from __future__ import annotations

from typing import Any

from .support import running_server, ws_client


async def _frames_until(client: Any, ref: str) -> list[Any]:
    frames = []
    while True:
        frame = await client.recv()
        frames.append(frame)
        if frame[3] == "phx_reply" and frame[1] == ref:
            return frames


async def test_frames_behind_a_duplicate_join_wait_for_it_and_the_stale_one_is_dropped() -> None:
    async with running_server() as srv, ws_client(srv.ws_url("/ws", "vsn=2.0.0")) as client:
        await client.send(["1", "1", "room:r", "phx_join", {}])
        await client.recv_until(lambda f: f[1] == "1")
        # All at once: a rejoin, a message for the old join, one for the new.
        await client.send(["2", "2", "room:r", "phx_join", {}])
        await client.send(["1", "3", "room:r", "echo", {"n": 3}])
        await client.send(["2", "4", "room:r", "echo", {"n": 4}])
        frames = await _frames_until(client, "4")
    replies = [f[1] for f in frames if f[3] == "phx_reply"]
    assert replies == ["2", "4"]  # "3" belonged to the replaced join: dropped (S26)
    assert frames[-1] == [
        "2",
        "4",
        "room:r",
        "phx_reply",
        {"status": "ok", "response": {"payload": {"n": 4}}},
    ]


async def test_heartbeats_and_messages_for_joined_and_unknown_topics_are_answered_in_order() -> (
    None
):
    async with running_server() as srv, ws_client(srv.ws_url("/ws", "vsn=2.0.0")) as client:
        await client.send(["1", "1", "room:a", "phx_join", {}])
        await client.recv_until(lambda f: f[1] == "1")
        await client.send([None, "2", "phoenix", "heartbeat", {}])
        await client.send(["1", "3", "room:a", "echo", {}])
        await client.send([None, "4", "room:unknown", "echo", {}])
        await client.send([None, "5", "phoenix", "heartbeat", {}])
        frames = await _frames_until(client, "5")
    replies = [(f[1], f[4]["status"]) for f in frames if f[3] == "phx_reply"]
    assert replies == [("2", "ok"), ("3", "ok"), ("4", "error"), ("5", "ok")]
    unknown = next(f for f in frames if f[1] == "4")
    assert unknown[4]["response"] == {"reason": "unmatched topic"}
