"""Unit tests of the codec runtime: wire primitives, framing, envelope, enums, dicts, repr."""
