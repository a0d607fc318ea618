"""Build-time code generator: upstream .proto release → ``ctrader_sdk/_generated/``.

Pipeline: :mod:`codegen.fetch` (pinned files, verified hashes) → :mod:`codegen.descriptors` (protoc with
source info) → :mod:`codegen.model` (a small frozen model) → :mod:`codegen.render` (strict Jinja
templates, ruff format). :func:`codegen.generate.generate` runs it end to end.
"""
