"""Handshake pieces: parameter decoding, origin rules, connect_info."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from bitnexus.channels.connect_info import ConnectInfo
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


def _request(headers: dict[str, str]) -> Any:
    return make_mocked_request("GET", "/socket/websocket?vsn=2.0.0&token=x", headers=headers)


def test_connect_info_reads_the_request_only_for_the_keys_asked_for() -> None:
    request = _request({"X-Application": "Phoenix", "User-Agent": "ua", "Cookie": "secret"})
    info = ConnectInfo(request, "tok", (("signing_salt", "salt"),))
    assert info.get("auth_token") == "tok"
    assert info["signing_salt"] == "salt"
    assert info._values is None  # nothing computed yet: the cheap keys need no request
    assert info["x_headers"] == [("x-application", "Phoenix")]
    assert set(info._values or ()) == {"x_headers"}
    assert info["user_agent"] == "ua"


def test_connect_info_is_a_full_mapping_without_cookies_and_detaches() -> None:
    request = _request({"Traceparent": "00-abc", "Cookie": "secret", "Host": "example.com:4000"})
    info = ConnectInfo(request, None, (("user_agent", "mine"),))
    keys = {
        "peer_data", "x_headers", "trace_context_headers", "uri", "user_agent",
        "sec_websocket_headers", "auth_token",
    }  # fmt: skip
    assert set(info) == keys and len(info) == len(keys)
    assert info["user_agent"] == "mine"  # the mount's pairs win
    assert info["trace_context_headers"] == [("traceparent", "00-abc")]
    assert info["uri"]["host"] == "example.com" and info["uri"]["query"] == "vsn=2.0.0&token=x"
    plain = info.detached()
    assert type(plain) is dict and set(plain) == keys
    assert "secret" not in repr(plain)
    with pytest.raises(KeyError):
        info["cookies"]  # an unknown key raises, as a dict's does
