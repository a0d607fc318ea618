"""Conformance of the generated codec against google protobuf (upb), and fuzzing."""
