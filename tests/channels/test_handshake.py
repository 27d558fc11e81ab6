"""Handshake pieces: parameter decoding, origin rules, connect_info."""

from __future__ import annotations

from typing import Any

from bitnexus.channels.handshake import decode_params, origin_allowed

from .support import running_server, ws_client


def test_query_params_decode_plug_style_with_the_last_value_winning() -> None:
    pairs = [("a[b]", "1"), ("a[c][d]", "2"), ("x", "old"), ("x", "new")]
    assert decode_params(pairs) == {"a": {"b": "1", "c": {"d": "2"}}, "x": "new"}


def test_origin_rules_follow_phoenix_check_origin() -> None:
    allowed = ("//example.com", "https://secure.example.org", "//*.other.com")
    assert origin_allowed(None, allowed, "localhost")
    assert origin_allowed("https://example.com", allowed, "localhost")
    assert origin_allowed("http://example.com:8080", allowed, "localhost")
    assert not origin_allowed("http://secure.example.org", allowed, "localhost")
    assert origin_allowed("https://a.b.other.com", allowed, "localhost")
    assert origin_allowed("https://other.com", allowed, "localhost")
    assert not origin_allowed("https://notother.com", allowed, "localhost")
    assert not origin_allowed("null", allowed, "localhost")
    assert origin_allowed("http://localhost:3000", True, "localhost")
    assert not origin_allowed("http://evil.com", True, "localhost")
    assert origin_allowed("http://evil.com", False, "localhost")


async def test_custom_connect_info_pairs_reach_connect(caplog: Any) -> None:
    async with (
        running_server(connect_info=(("signing_salt", "salt"),)) as srv,
        ws_client(srv.ws_url("/ws/connect_info", "vsn=2.0.0")) as client,
    ):
        await client.send(["1", "1", "room:ci", "phx_join", {}])
        joined = await client.recv_until(lambda f: f[3] == "joined")
    assert joined[4]["connect_info"]["signing_salt"] == "salt"
