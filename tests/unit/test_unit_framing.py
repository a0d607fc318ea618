"""The sans-I/O frame codec: 4-byte big-endian length prefix, reassembly from arbitrary chunks, and the
maximum frame size enforced from the header alone."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrader_sdk import FrameDecoder, FrameTooLargeError, ProtocolError, encode_frame
from ctrader_sdk._framing import DEFAULT_MAX_FRAME_SIZE

BODIES = [b"", b"x", b"\x00\x00\x00\x00", b"", bytes(range(256)) * 3, b"", b"end\xff"]
STREAM = b"".join(encode_frame(body) for body in BODIES)


def test_encode_frame() -> None:
    assert encode_frame(b"") == b"\x00\x00\x00\x00"
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert encode_frame(b"x" * 0x01020304)[:4] == b"\x01\x02\x03\x04"


def feed_all(decoder: FrameDecoder, chunks: list[bytes]) -> list[bytes]:
    frames: list[bytes] = []
    for chunk in chunks:
        frames += decoder.feed(chunk)
    return frames


def test_one_chunk_and_byte_by_byte() -> None:
    assert FrameDecoder().feed(STREAM) == BODIES
    decoder = FrameDecoder()
    assert feed_all(decoder, [STREAM[i : i + 1] for i in range(len(STREAM))]) == BODIES
    assert decoder.buffered == 0


@pytest.mark.parametrize("first", range(0, 40, 3))
def test_split_at_every_boundary(first: int) -> None:
    """Split once at ``first`` and once more at every later byte: three chunks, every combination
    of boundaries around the first frames (the tail by single splits)."""
    for second in range(first, len(STREAM) + 1):
        decoder = FrameDecoder()
        frames = feed_all(decoder, [STREAM[:first], STREAM[first:second], STREAM[second:]])
        assert frames == BODIES, (first, second)
        assert decoder.buffered == 0


def test_partial_frames_are_buffered() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\x00") == [] and decoder.buffered == 2
    assert decoder.feed(b"\x00\x05ab") == [] and decoder.buffered == 6
    assert decoder.feed(b"cde\x00") == [b"abcde"] and decoder.buffered == 1
    assert decoder.feed(b"") == [] and decoder.buffered == 1
    assert decoder.feed(b"\x00\x00\x00") == [b""] and decoder.buffered == 0
    assert decoder.feed(bytearray(b"\x00\x00\x00\x01")) == [] and decoder.feed(memoryview(b"z")) == [b"z"]


def test_zero_length_frames() -> None:
    assert FrameDecoder().feed(b"\x00\x00\x00\x00" * 5) == [b""] * 5
    assert FrameDecoder(max_frame_size=1).feed(encode_frame(b"") + encode_frame(b"1")) == [b"", b"1"]


@settings(max_examples=200)
@given(
    bodies=st.lists(st.binary(max_size=40), max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_random_chunkings(bodies: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(encode_frame(body) for body in bodies)
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points)]
    decoder = FrameDecoder()
    assert feed_all(decoder, chunks) == bodies
    assert decoder.buffered == 0


def test_oversize_is_refused_from_the_header_alone() -> None:
    decoder = FrameDecoder(max_frame_size=100)
    with pytest.raises(FrameTooLargeError) as info:
        decoder.feed((101).to_bytes(4, "big"))  # the body never arrives: no need to wait for it
    assert "100" in str(info.value) and "101" in str(info.value)
    assert isinstance(info.value, ProtocolError)
    assert decoder.buffered == 0  # nothing kept
    with pytest.raises(FrameTooLargeError):  # the stream cannot be resynchronised
        decoder.feed(encode_frame(b"ok"))


def test_oversize_header_split_across_chunks() -> None:
    decoder = FrameDecoder(max_frame_size=1000)
    assert decoder.feed(encode_frame(b"a") + b"\x00\x00") == [b"a"]
    with pytest.raises(FrameTooLargeError, match="1000"):
        decoder.feed(b"\x10\x00")


def test_limit_itself_is_accepted() -> None:
    decoder = FrameDecoder(max_frame_size=100)
    assert decoder.feed(encode_frame(b"y" * 100)) == [b"y" * 100]


def test_default_limit() -> None:
    assert DEFAULT_MAX_FRAME_SIZE == 16 * 1024 * 1024
    decoder = FrameDecoder()
    assert decoder.max_frame_size == DEFAULT_MAX_FRAME_SIZE
    with pytest.raises(FrameTooLargeError, match=str(DEFAULT_MAX_FRAME_SIZE)):
        decoder.feed(b"\xff\xff\xff\xff")
    header_only = FrameDecoder()
    assert header_only.feed(DEFAULT_MAX_FRAME_SIZE.to_bytes(4, "big")) == []


@pytest.mark.parametrize("size", [0, -1])
def test_max_frame_size_must_be_positive(size: int) -> None:
    with pytest.raises(ValueError):
        FrameDecoder(max_frame_size=size)


def test_complete_frames_before_an_oversize_header_are_delivered_first() -> None:
    decoder = FrameDecoder(max_frame_size=16)
    chunk = encode_frame(b"ok") + (1000).to_bytes(4, "big")
    assert decoder.feed(chunk) == [b"ok"]
    with pytest.raises(FrameTooLargeError, match="1000 bytes exceeds the maximum of 16 bytes"):
        decoder.feed(b"")
    with pytest.raises(FrameTooLargeError):
        decoder.feed(encode_frame(b"x"))
