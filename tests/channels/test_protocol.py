"""Golden frames from the Phoenix reference (sections 1.5 to 1.8), malformed
frames, vsn negotiation and round-trip properties of the wire protocol."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitnexus.channels.protocol import (
    HEARTBEAT,
    PHOENIX_TOPIC,
    PHX_CLOSE,
    PHX_ERROR,
    PHX_JOIN,
    PHX_LEAVE,
    PHX_REPLY,
    Broadcast,
    Message,
    Push,
    Reply,
    V1JSONSerializer,
    V2JSONSerializer,
    phx_close,
    phx_error,
    serializer_for_vsn,
)
from bitnexus.exceptions import Misuse, ProtocolError

V1, V2 = V1JSONSerializer, V2JSONSerializer


def text(frame: str) -> tuple[str, str]:
    return ("text", frame)


# --- V2 text frames, section 1.5 ------------------------------------------------

V2_CLIENT_FRAMES = [
    pytest.param(
        '["3","3","room:lobby","phx_join",{"name":"x"}]',
        Message("room:lobby", PHX_JOIN, {"name": "x"}, ref="3", join_ref="3"),
        id="join",
    ),
    pytest.param(
        '["3","8","room:lobby","new_msg",{"body":"hi"}]',
        Message("room:lobby", "new_msg", {"body": "hi"}, ref="8", join_ref="3"),
        id="user push",
    ),
    pytest.param(
        '["3","16","room:lobby","phx_leave",{}]',
        Message("room:lobby", PHX_LEAVE, {}, ref="16", join_ref="3"),
        id="leave",
    ),
    pytest.param(
        '[null,"10","phoenix","heartbeat",{}]',
        Message(PHOENIX_TOPIC, HEARTBEAT, {}, ref="10", join_ref=None),
        id="heartbeat",
    ),
]


@pytest.mark.parametrize(("frame", "expected"), V2_CLIENT_FRAMES)
def test_v2_client_frames_from_the_js_client_decode_to_messages(
    frame: str, expected: Message
) -> None:
    assert V2.decode(frame, opcode="text") == expected
    assert V2.decode(frame.encode(), opcode="text") == expected
    assert V2.encode_client_message(expected) == text(frame)


V2_REPLIES = [
    pytest.param(
        Reply("room:lobby", "ok", {"hello": 1}, ref="3", join_ref="3"),
        '["3","3","room:lobby","phx_reply",{"status":"ok","response":{"hello":1}}]',
        id="join ok",
    ),
    pytest.param(
        Reply("room:bad", "error", {"reason": "unauthorized"}, ref="7", join_ref="7"),
        '["7","7","room:bad","phx_reply",{"status":"error","response":{"reason":"unauthorized"}}]',
        id="join refused",
    ),
    pytest.param(
        Reply("room:x", "error", {"reason": "join crashed"}, ref="7", join_ref="7"),
        '["7","7","room:x","phx_reply",{"status":"error","response":{"reason":"join crashed"}}]',
        id="join crashed",
    ),
    pytest.param(
        Reply("room:x", "error", {"reason": "too many channels joined"}, "101", "101"),
        '["101","101","room:x","phx_reply",'
        '{"status":"error","response":{"reason":"too many channels joined"}}]',
        id="too many channels",
    ),
    pytest.param(
        Reply("nope:1", "error", {"reason": "unmatched topic"}, ref="5", join_ref=None),
        '[null,"5","nope:1","phx_reply",'
        '{"status":"error","response":{"reason":"unmatched topic"}}]',
        id="unmatched topic",
    ),
    pytest.param(
        Reply("room:lobby", "ok", {}, ref="8", join_ref="3"),
        '["3","8","room:lobby","phx_reply",{"status":"ok","response":{}}]',
        id="reply",
    ),
    pytest.param(
        Reply("room:lobby", "ok", {}, ref="16", join_ref="3"),
        '["3","16","room:lobby","phx_reply",{"status":"ok","response":{}}]',
        id="leave reply",
    ),
    pytest.param(
        Reply(PHOENIX_TOPIC, "ok", {}, ref="10", join_ref=None),
        '[null,"10","phoenix","phx_reply",{"status":"ok","response":{}}]',
        id="heartbeat reply",
    ),
    pytest.param(
        Reply("room:lobby", "custom", [1, "two", None], ref=4, join_ref=3),
        '[3,4,"room:lobby","phx_reply",{"status":"custom","response":[1,"two",null]}]',
        id="any status, non-object response, integer refs echoed",
    ),
]


@pytest.mark.parametrize(("reply", "frame"), V2_REPLIES)
def test_v2_replies_encode_to_the_reference_frames(reply: Reply, frame: str) -> None:
    assert V2.encode_reply(reply) == text(frame)


def test_v2_server_push_carries_join_ref_and_a_null_ref() -> None:
    push = Push("room:lobby", "joined", {"status": "connected"}, join_ref="3")
    assert V2.encode_push(push) == text('["3",null,"room:lobby","joined",{"status":"connected"}]')


def test_v2_broadcast_carries_neither_join_ref_nor_ref() -> None:
    bcast = Broadcast("room:lobby", "user_entered", {"user": None})
    expected = text('[null,null,"room:lobby","user_entered",{"user":null}]')
    assert V2.encode_broadcast(bcast) == expected
    assert V2.fastlane_encode(bcast) == expected


def test_v2_phx_close_and_phx_error_use_the_join_ref_as_ref() -> None:
    assert V2.encode_control(phx_close("room:lobby", "3")) == text(
        '["3","3","room:lobby","phx_close",{}]'
    )
    assert V2.encode_control(V2.phx_error("room:lobby", "3")) == text(
        '["3","3","room:lobby","phx_error",{"reason":"channel_crash"}]'
    )


def test_v2_decode_ignores_elements_after_the_fifth() -> None:
    msg = V2.decode('["1","2","t","e",{},"extra",[9]]', opcode="text")
    assert msg == Message("t", "e", {}, "2", "1")


@pytest.mark.parametrize(
    ("payload", "expected"), [("[1,2]", [1, 2]), ('"s"', "s"), ("3.5", 3.5), ("null", None)]
)
def test_v2_decode_accepts_any_json_payload(payload: str, expected: Any) -> None:
    assert V2.decode(f'["1","2","t","e",{payload}]', opcode="text").payload == expected


# --- V1 frames, section 1.6 ---------------------------------------------------


def test_v1_join_without_join_ref_decodes_with_a_null_join_ref() -> None:
    frame = '{"topic":"room:lobby","event":"phx_join","payload":{},"ref":"1"}'
    assert V1.decode(frame, opcode="text") == Message("room:lobby", PHX_JOIN, {}, "1", None)
    assert V1.encode_client_message(Message("room:lobby", PHX_JOIN, {}, "1")) == text(frame)


@pytest.mark.parametrize(("join_ref", "expected"), [(None, None), ('"11"', "11"), ("4", 4)])
def test_v1_decode_reads_an_optional_join_ref(join_ref: str | None, expected: Any) -> None:
    extra = "" if join_ref is None else f',"join_ref":{join_ref}'
    frame = '{"topic":"t","event":"e","payload":{},"ref":"2"' + extra + "}"
    assert V1.decode(frame, opcode="text").join_ref == expected


@pytest.mark.parametrize("payload", ['"s"', "[1]", "null"])
def test_v1_decode_accepts_any_json_payload_and_a_null_join_ref(payload: str) -> None:
    frame = '{"topic":"t","event":"e","payload":' + payload + ',"ref":"2","join_ref":null}'
    msg = V1.decode(frame, opcode="text")
    assert (msg.join_ref, msg.payload) == (None, orjson.loads(payload))


def test_v1_reply_has_no_join_ref_key() -> None:
    reply = Reply("room:lobby", "ok", {}, ref="1", join_ref="1")
    assert V1.encode_reply(reply) == text(
        '{"topic":"room:lobby","event":"phx_reply","payload":{"status":"ok","response":{}},"ref":"1"}'
    )


def test_v1_push_and_broadcast_have_a_null_ref() -> None:
    push = Push("room:lobby", "joined", {"status": "connected"}, join_ref="1")
    bcast = Broadcast("room:lobby", "user_entered", {"user": None})
    assert V1.encode_push(push) == text(
        '{"topic":"room:lobby","event":"joined","payload":{"status":"connected"},"ref":null}'
    )
    expected = text(
        '{"topic":"room:lobby","event":"user_entered","payload":{"user":null},"ref":null}'
    )
    assert V1.encode_broadcast(bcast) == expected
    assert V1.fastlane_encode(bcast) == expected


@pytest.mark.parametrize(("join_ref", "ref_json"), [("1", '"1"'), (None, "null")])
def test_v1_phx_close_and_phx_error_carry_the_join_ref_as_ref(
    join_ref: str | None, ref_json: str
) -> None:
    assert V1.encode_control(V1.phx_close("room:lobby", join_ref)) == text(
        '{"topic":"room:lobby","event":"phx_close","payload":{},"ref":' + ref_json + "}"
    )
    assert V1.encode_control(phx_error("room:lobby", join_ref)) == text(
        '{"topic":"room:lobby","event":"phx_error","payload":{"reason":"channel_crash"},"ref":'
        + ref_json
        + "}"
    )


@pytest.mark.parametrize(
    "frame",
    [
        Reply("t", "ok", b"\x01", "1", "1"),
        Push("t", "e", b"\x01", "1"),
        Broadcast("t", "e", bytearray(b"\x01")),
    ],
    ids=["reply", "push", "broadcast"],
)
def test_v1_refuses_to_encode_binary_payloads(frame: Any) -> None:
    encode = {Reply: V1.encode_reply, Push: V1.encode_push, Broadcast: V1.encode_broadcast}
    with pytest.raises(ProtocolError, match="V1 cannot carry a binary"):
        encode[type(frame)](frame)


# --- V2 binary frames, section 1.8 (hex captured from the 1.8.16 client) ---------


def hexbytes(dump: str) -> bytes:
    return bytes.fromhex(dump.replace(" ", ""))


def test_binary_push_from_the_js_client_decodes_byte_for_byte() -> None:
    data = hexbytes("00 01 01 0a 06 33 39 726f6f6d3a6c6f626279 75706c6f6164 010203")
    msg = V2.decode(data, opcode="binary")
    assert msg == Message("room:lobby", "upload", b"\x01\x02\x03", ref="9", join_ref="3")
    assert type(msg.payload) is bytes
    assert V2.encode_client_message(msg) == ("binary", data)


def test_binary_reply_encodes_byte_for_byte() -> None:
    reply = Reply("room:lobby", "ok", b"\x09\x09", ref="9", join_ref="3")
    expected = hexbytes("01 01 01 0a 02 33 39 726f6f6d3a6c6f626279 6f6b 0909")
    assert V2.encode_reply(reply) == ("binary", expected)


def test_binary_server_push_encodes_byte_for_byte_without_a_ref_field() -> None:
    push = Push("room:lobby", "bin", memoryview(b"\x07\x07"), join_ref="3")
    expected = hexbytes("00 01 0a 03 33 726f6f6d3a6c6f626279 62696e 0707")
    assert V2.encode_push(push) == ("binary", expected)


def test_binary_broadcast_encodes_byte_for_byte() -> None:
    bcast = Broadcast("room:lobby", "bcx", bytearray(b"\x05"))
    expected = hexbytes("02 0a 03 726f6f6d3a6c6f626279 626378 05")
    assert V2.encode_broadcast(bcast) == ("binary", expected)
    assert V2.fastlane_encode(bcast) == ("binary", expected)


def test_binary_event_exchange_of_acceptance_case_28() -> None:
    sent = V2.encode_client_message(Message("room:bin", "binary_event", b"\x01\x02", "2", "11"))
    msg = V2.decode(sent[1], opcode="binary")
    assert (msg.ref, msg.join_ref, msg.payload) == ("2", "11", b"\x01\x02")
    reply = V2.encode_reply(Reply(msg.topic, "ok", msg.payload + b"\x03\x04", msg.ref, "11"))
    assert reply == ("binary", b"\x01\x02\x01\x08\x02" + b"112room:binok" + b"\x01\x02\x03\x04")
    push = V2.encode_push(Push("room:bin", "binary_event", b"\x00\x01", join_ref="11"))
    assert push == ("binary", b"\x00\x02\x08\x0c" + b"11room:binbinary_event" + b"\x00\x01")


def test_null_refs_in_binary_frames_travel_as_empty_fields() -> None:
    reply = V2.encode_reply(Reply("t", "ok", b"", ref=None, join_ref=None))
    assert reply == ("binary", b"\x01\x00\x00\x01\x02tok")
    assert V2.decode(b"\x00\x00\x00\x01\x01te", opcode="binary") == Message("t", "e", b"", None)


def test_binary_fields_of_255_bytes_pass_and_256_bytes_are_refused() -> None:
    topic = "é" * 127 + "x"  # 255 UTF-8 bytes
    data = V2.encode_push(Push(topic, "e", b"!", join_ref="1"))[1]
    assert data[:4] == b"\x00\x01\xff\x01"
    client_frame = b"\x00\x00\x00\xff\x01" + topic.encode() + b"e!"
    assert V2.decode(client_frame, opcode="binary").topic == topic
    with pytest.raises(ProtocolError, match="topic is 256 UTF-8 bytes; the limit is 255"):
        V2.encode_push(Push(topic + "y", "e", b"!", join_ref="1"))
    with pytest.raises(ProtocolError, match="status is 300"):
        V2.encode_reply(Reply("t", "s" * 300, b"", "1", "1"))
    with pytest.raises(ProtocolError, match="event"):
        V2.encode_broadcast(Broadcast("t", "e" * 256, b""))


# --- malformed frames (S43): each must raise ProtocolError -------------------------

MALFORMED_V2_TEXT = [
    pytest.param("[1,2,", "not valid JSON", id="bad JSON"),
    pytest.param("", "not valid JSON", id="empty"),
    pytest.param("[]", "5 elements", id="empty array"),
    pytest.param("[1,2,3]", "5 elements", id="three elements"),
    pytest.param('["1","2","t","e"]', "5 elements", id="four elements"),
    pytest.param('"string"', "JSON array", id="string"),
    pytest.param("{}", "JSON array", id="object"),
    pytest.param('{"topic":"t","event":"e","payload":{},"ref":"1"}', "JSON array", id="V1 frame"),
    pytest.param('["1","2",5,"e",{}]', "topic must be a string", id="numeric topic"),
    pytest.param('["1","2","t",null,{}]', "event must be a string", id="null event"),
    pytest.param('["1",1.5,"t","e",{}]', "ref must be", id="float ref"),
    pytest.param('["1",true,"t","e",{}]', "ref must be", id="boolean ref"),
    pytest.param('[{"a":1},"2","t","e",{}]', "join_ref must be", id="object join_ref"),
    pytest.param('["1",18446744073709551616,"t","e",{}]', "ref must be", id="huge integer ref"),
]


@pytest.mark.parametrize(("frame", "reason"), MALFORMED_V2_TEXT)
def test_malformed_v2_text_frames_raise_protocol_error(frame: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        V2.decode(frame, opcode="text")


MALFORMED_V1 = [
    pytest.param("{", "not valid JSON", id="bad JSON"),
    pytest.param('["1","2","t","e",{}]', "JSON object", id="V2 frame"),
    pytest.param('"string"', "JSON object", id="string"),
    pytest.param('{"topic":"t","event":"e","payload":{}}', "missing the key 'ref'", id="no ref"),
    pytest.param('{"topic":"t","event":"e","ref":"1"}', "'payload'", id="no payload"),
    pytest.param('{"event":"e","payload":{},"ref":"1"}', "'topic'", id="no topic"),
    pytest.param('{"topic":"t","payload":{},"ref":"1"}', "'event'", id="no event"),
    pytest.param('{"topic":["t"],"event":"e","payload":{},"ref":"1"}', "topic", id="list topic"),
    pytest.param('{"topic":"t","event":"e","payload":{},"ref":[]}', "ref must", id="list ref"),
    pytest.param(
        '{"topic":"t","event":"e","payload":{},"ref":"1","join_ref":false}',
        "join_ref must",
        id="boolean join_ref",
    ),
]


@pytest.mark.parametrize(("frame", "reason"), MALFORMED_V1)
def test_malformed_v1_frames_raise_protocol_error(frame: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        V1.decode(frame, opcode="text")


def test_v1_refuses_binary_frames() -> None:
    data = hexbytes("00 01 01 0a 06 33 39 726f6f6d3a6c6f626279 75706c6f6164 010203")
    with pytest.raises(ProtocolError, match="binary frames need the V2 serializer"):
        V1.decode(data, opcode="binary")


MALFORMED_BINARY = [
    pytest.param(b"\x01\x01\x01\x01\x02" + b"12tok", "kind 1 is not accepted", id="kind 1"),
    pytest.param(b"\x02\x01\x01tex", "kind 2 is not accepted", id="kind 2"),
    pytest.param(b"\x03\x00\x00\x00\x00", "kind 3 is not accepted", id="kind 3"),
    pytest.param(b"\xff\x00\x00\x00\x00", "kind 255 is not accepted", id="kind 255"),
    pytest.param(b"", "empty binary frame", id="empty"),
    pytest.param(b"\x00\x01\x01", "header truncated: 3 of 5", id="truncated header"),
    pytest.param(b"\x00\x01\x01\x0a\x06" + b"39room", "topic length 10 runs past", id="topic"),
    pytest.param(b"\x00\x05\x00\x00\x00" + b"12", "join_ref length 5 runs past", id="join_ref"),
    pytest.param(b"\x00\x00\x00\x01\x09" + b"tev", "event length 9 runs past", id="event"),
    pytest.param(b"\x00\x00\x00\x02\x01" + b"\xc3\x28e", "topic is not valid UTF-8", id="utf8"),
    pytest.param(b"\x00\x01\x00\x01\x01" + b"\xfft" + b"e", "join_ref is not valid", id="utf8 jr"),
]


@pytest.mark.parametrize(("data", "reason"), MALFORMED_BINARY)
def test_malformed_binary_frames_raise_protocol_error(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        V2.decode(data, opcode="binary")


def test_protocol_errors_close_the_connection_with_1011() -> None:
    with pytest.raises(ProtocolError) as info:
        V2.decode("[]", opcode="text")
    assert info.value.close_code == 1011


def test_a_10_mb_topic_still_decodes_because_size_limits_belong_to_the_transport() -> None:
    topic = "t" * 10_000_000
    msg = V2.decode(f'["1","2","{topic}","e",{{}}]', opcode="text")
    assert len(msg.topic) == 10_000_000
    assert len(V1.decode(V1.encode_client_message(msg)[1], opcode="text").topic) == 10_000_000


def test_an_unknown_opcode_is_a_caller_bug() -> None:
    with pytest.raises(Misuse, match="opcode"):
        V2.decode("[]", opcode="ping")
    with pytest.raises(Misuse, match="opcode"):
        V1.decode("{}", opcode="close")


def test_unserializable_payloads_raise_protocol_error_naming_the_frame() -> None:
    with pytest.raises(ProtocolError, match="payload of Push is not JSON-serializable"):
        V2.encode_push(Push("t", "e", {"when": object()}, "1"))
    with pytest.raises(ProtocolError, match="payload of Broadcast"):
        V1.encode_broadcast(Broadcast("t", "e", {1: "non-string key"}))
    with pytest.raises(ProtocolError, match="payload of Reply"):
        V2.encode_reply(Reply("t", "ok", {"n": 2**70}, "1", "1"))
    with pytest.raises(ProtocolError, match="payload of Reply"):
        V1.encode_reply(Reply("t", "ok", {"raw": b"nested bytes"}, "1", "1"))


# --- vsn negotiation, section 1.3 -----------------------------------------------


@pytest.mark.parametrize(
    ("vsn", "expected"),
    [
        (None, V1),
        ("1.0.0", V1),
        ("1.0.7", V1),
        ("1.0.1-dev", V1),
        ("2.0.0", V2),
        ("2.0.3", V2),
        ("2.0.0+build.5", V2),
        ("2.1.0", None),
        ("1.1.0", None),
        ("3.0.0", None),
        ("0.0.1", None),
        ("123.1.1", None),
        ("2.0.0-rc.1", None),
        ("2.0", None),
        ("2", None),
        ("02.0.0", None),
        ("2.0.0\n", None),
        (" 2.0.0", None),
        ("v2.0.0", None),
        ("abc", None),
        ("", None),
    ],
)
def test_vsn_selects_the_serializer_or_none_for_a_403(vsn: str | None, expected: Any) -> None:
    assert serializer_for_vsn(vsn) is expected


def test_serializers_name_their_version() -> None:
    assert (V1.vsn, V2.vsn) == ("1.0.0", "2.0.0")
    assert (V1.name, V2.name) == ("V1.JSONSerializer", "V2.JSONSerializer")
    assert (PHX_REPLY, PHX_CLOSE, PHX_ERROR) == ("phx_reply", "phx_close", "phx_error")


# --- round-trip properties ------------------------------------------------------

refs = st.one_of(st.none(), st.text(), st.integers(-(2**63), 2**63 - 1))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
messages = st.builds(Message, st.text(), st.text(), json_values, refs, refs)


@given(messages)
def test_v2_text_messages_round_trip_through_the_client_encoding(msg: Message) -> None:
    opcode, data = V2.encode_client_message(msg)
    assert V2.decode(data, opcode=opcode) == msg


@given(messages)
def test_v1_messages_round_trip_through_the_client_encoding(msg: Message) -> None:
    opcode, data = V1.encode_client_message(msg)
    assert V1.decode(data, opcode=opcode) == msg


fields = st.text(max_size=80).filter(lambda s: len(s.encode()) <= 255)
binary_refs = st.none() | fields.filter(bool)  # the empty field reads back as null


@given(st.builds(Message, fields, fields, st.binary(max_size=64), binary_refs, binary_refs))
def test_v2_binary_pushes_round_trip(msg: Message) -> None:
    opcode, data = V2.encode_client_message(msg)
    assert opcode == "binary"
    assert V2.decode(data, opcode=opcode) == msg


def client_binary_decode(data: bytes) -> tuple[Any, ...]:
    """What the JS client's binaryDecode yields for a server frame."""
    kind = data[0]
    if kind == 2:
        lengths, names = data[1:3], ("topic", "event")
    elif kind == 1:
        lengths, names = data[1:5], ("join_ref", "ref", "topic", "status")
    else:
        lengths, names = data[1:4], ("join_ref", "topic", "event")
    offset, values = 1 + len(lengths), {}
    for name, length in zip(names, lengths, strict=True):
        values[name] = data[offset : offset + length].decode()
        offset += length
    return (kind, values, data[offset:])


@given(fields, fields, binary_refs, binary_refs, st.binary(max_size=64))
def test_v2_binary_server_frames_read_back_as_the_js_client_reads_them(
    topic: str, name: str, ref: str | None, join_ref: str | None, payload: bytes
) -> None:
    jr, rf = join_ref or "", ref or ""
    push = V2.encode_push(Push(topic, name, payload, join_ref))[1]
    expected_push = {"join_ref": jr, "topic": topic, "event": name}
    assert client_binary_decode(push) == (0, expected_push, payload)
    reply = V2.encode_reply(Reply(topic, name, payload, ref, join_ref))[1]
    expected = {"join_ref": jr, "ref": rf, "topic": topic, "status": name}
    assert client_binary_decode(reply) == (1, expected, payload)
    bcast = V2.encode_broadcast(Broadcast(topic, name, payload))[1]
    assert client_binary_decode(bcast) == (2, {"topic": topic, "event": name}, payload)
