"""Sans-I/O frame codec: a frame is a 4-byte big-endian length followed by that many bytes.

:class:`FrameDecoder` accepts arbitrary chunks (as they come off a socket) and returns complete
frame bodies. It checks each announced length against a maximum before buffering anything for it,
so a hostile or corrupt length never makes it allocate.
"""

from __future__ import annotations

import struct

from ctrader_sdk._exceptions import FrameTooLargeError

__all__ = ["DEFAULT_MAX_FRAME_SIZE", "FrameDecoder", "encode_frame"]

#: Default largest frame body accepted (bytes). The vendor's largest answers (symbol lists, deal
#: histories) are a few MiB; 16 MiB leaves room without letting a bad length exhaust memory.
DEFAULT_MAX_FRAME_SIZE = 16 * 1024 * 1024

_unpack_length = struct.Struct(">I").unpack_from


def encode_frame(body: bytes) -> bytes:
    """Prefix ``body`` with its 4-byte big-endian length."""
    return len(body).to_bytes(4, "big") + body


class FrameDecoder:
    """Reassembles frames from a byte stream.

    Args:
        max_frame_size: the largest frame body accepted; a larger announced length raises
            :class:`FrameTooLargeError` and the decoder refuses further input.
    """

    __slots__ = ("_buffer", "_failed", "_need", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size <= 0:
            raise ValueError("max_frame_size must be positive")
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()  # the start of an incomplete frame
        self._need = 0  # bytes the buffer must hold before a frame can complete
        self._failed: str | None = None  # why the stream was refused

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the frame bodies completed by them, in order.

        Frames are cut straight out of ``data`` (one copy per body); only an incomplete tail is kept,
        and it is not copied again until the chunk that completes it arrives.

        Raises:
            FrameTooLargeError: a frame announces a length above ``max_frame_size``. Frames completed
                before it in the same call are returned first and this is raised by the next call. The
                stream cannot be resynchronised after that, so every later call raises too.
        """
        if self._failed is not None:
            raise FrameTooLargeError(self._failed)
        buf = self._buffer
        if buf:
            buf += data
            if len(buf) < self._need:
                return []
            data = bytes(buf)
            buf.clear()
        frames: list[bytes] = []
        pos = 0
        size = len(data)
        limit = self.max_frame_size
        while size - pos >= 4:
            length = _unpack_length(data, pos)[0]
            if length > limit:
                self._failed = f"frame of {length} bytes exceeds the maximum of {limit} bytes"
                if frames:  # deliver the complete frames first; the next call raises
                    return frames
                raise FrameTooLargeError(self._failed)
            end = pos + 4 + length
            if end > size:
                self._need = end - pos
                break
            frames.append(data[pos + 4 : end])
            pos = end
        else:
            self._need = 4
        if pos < size:
            buf += data[pos:] if pos else data
        return frames
