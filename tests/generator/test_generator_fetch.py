"""The pinned fetch: local source folder, download by tag from a local HTTP server, hash checks."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from codegen import fetch

FILES = ("A.proto", "B.proto")


def _lock(tmp_path: Path, url: str, contents: dict[str, bytes]) -> fetch.Lock:
    hashes = " , ".join(f'"{n}" = "{hashlib.sha256(c).hexdigest()}"' for n, c in contents.items())
    files = ", ".join(f'"{n}"' for n in contents)
    text = f'current = "7"\nurl = "{url}"\nfiles = [{files}]\n[releases."7"]\ntag = "v7"\nsha256 = {{ {hashes} }}\n'
    path = tmp_path / "lock.toml"
    path.write_text(text)
    return fetch.load_lock(path)


@pytest.fixture
def contents() -> dict[str, bytes]:
    return {name: f'syntax = "proto2"; // {name}\n'.encode() for name in FILES}


@pytest.fixture
def source(tmp_path: Path, contents: dict[str, bytes]) -> Path:
    root = tmp_path / "source"
    (root / "7").mkdir(parents=True)
    for name, data in contents.items():
        (root / "7" / name).write_bytes(data)
    return root


@pytest.fixture
def http_root(tmp_path: Path, contents: dict[str, bytes]) -> Iterator[tuple[str, Path]]:
    """A local HTTP server laid out like the upstream raw-file host: /<tag>/<file>."""
    root = tmp_path / "www"
    (root / "v7").mkdir(parents=True)
    for name, data in contents.items():
        (root / "v7" / name).write_bytes(data)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{tag}}/{{file}}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_copy_from_source_folder(tmp_path: Path, source: Path, contents: dict[str, bytes]) -> None:
    lock = _lock(tmp_path, "http://unused.invalid/{tag}/{file}", contents)
    dest = fetch.fetch(lock=lock, dest_root=tmp_path / "proto", source=str(source))
    assert dest == tmp_path / "proto" / "7"
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == contents


def test_download_by_tag_from_http(
    tmp_path: Path, http_root: tuple[str, Path], contents: dict[str, bytes]
) -> None:
    url, _ = http_root
    lock = _lock(tmp_path, url, contents)
    dest = fetch.fetch(lock=lock, dest_root=tmp_path / "proto", source="")
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == contents


def test_download_404_is_a_clear_error(
    tmp_path: Path, http_root: tuple[str, Path], contents: dict[str, bytes]
) -> None:
    url, root = http_root
    (root / "v7" / "B.proto").unlink()
    lock = _lock(tmp_path, url, contents)
    with pytest.raises(fetch.FetchError, match=r"download of B.proto \(release 7\) failed: HTTP 404"):
        fetch.fetch(lock=lock, dest_root=tmp_path / "proto", source="")
    assert not (tmp_path / "proto" / "7").exists()


def test_hash_mismatch_writes_nothing(tmp_path: Path, source: Path, contents: dict[str, bytes]) -> None:
    lock = _lock(tmp_path, "x", contents)
    (source / "7" / "B.proto").write_bytes(b"tampered")
    with pytest.raises(
        fetch.FetchError, match=r"B.proto of release 7 does not match the lock: sha256 [0-9a-f]{64}"
    ):
        fetch.fetch(lock=lock, dest_root=tmp_path / "proto", source=str(source))
    assert not (tmp_path / "proto" / "7").exists()
    assert [p.name for p in (tmp_path / "proto").iterdir()] == []  # no staging folder left behind


def test_failure_leaves_a_good_existing_copy(
    tmp_path: Path, source: Path, contents: dict[str, bytes]
) -> None:
    lock = _lock(tmp_path, "x", contents)
    good = fetch.fetch(lock=lock, dest_root=tmp_path / "proto", source=str(source))
    (good / "A.proto").write_bytes(b"local damage")  # forces a re-fetch
    (source / "7" / "A.proto").unlink()
    with pytest.raises(fetch.FetchError, match=r"A.proto of release 7 is missing"):
        fetch.fetch(lock=lock, dest_root=tmp_path / "proto", source=str(source))
    assert (good / "A.proto").read_bytes() == b"local damage"
    assert (good / "B.proto").read_bytes() == contents["B.proto"]


def test_unknown_release(tmp_path: Path, contents: dict[str, bytes]) -> None:
    lock = _lock(tmp_path, "x", contents)
    with pytest.raises(fetch.FetchError, match=r"release '9' is not in lock.toml \(known: 7\)"):
        lock.release("9")


def test_the_project_lock_pins_every_shared_release() -> None:
    lock = fetch.load_lock()
    assert lock.current == "91"
    assert sorted(lock.releases) == ["81", "88", "89", "90", "91"]
    assert all(len(r.sha256) == 4 for r in lock.releases.values())
