"""Rewrite the committed goldens from the fixture fragments: `make goldens`.

Run it after an intended change to the templates or the model, then review the diff of
tests/generator/goldens/ like any other code change.
"""

from __future__ import annotations

import shutil

from _fixtures import GOLDENS, cases, render_case  # type: ignore[import-not-found]


def main() -> None:
    if GOLDENS.exists():
        shutil.rmtree(GOLDENS)
    for case in cases():
        out = GOLDENS / case
        out.mkdir(parents=True)
        for name, text in sorted(render_case(case).items()):
            (out / f"{name}.golden").write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
