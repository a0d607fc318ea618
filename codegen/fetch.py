"""Fetch a pinned release of the upstream ``.proto`` files and verify their hashes.

The lock (``proto/lock.toml``) names, per release, the upstream tag and the sha256 of each file. The
files come either from the directory named by ``CTRADER_PROTO_SOURCE`` (one sub-folder per release, as
in ``../shared/proto``) or, when it is unset, from the upstream repository by tag. Everything is
downloaded into a temporary folder and verified before anything is moved into ``proto/<release>/``,
so a failure never leaves a half-written release behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
LOCK_PATH = ROOT / "proto" / "lock.toml"
PROTO_DIR = ROOT / "proto"
SOURCE_ENV = "CTRADER_PROTO_SOURCE"
DOWNLOAD_TIMEOUT = 30.0


class FetchError(Exception):
    """The pinned release could not be fetched or did not match the lock."""


@dataclass(frozen=True, slots=True)
class Release:
    """One locked release: its name, upstream tag and the sha256 of each file (in lock order)."""

    name: str
    tag: str
    url: str
    sha256: tuple[tuple[str, str], ...]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.sha256)

    def file_url(self, file: str) -> str:
        return self.url.format(tag=self.tag, file=file)


@dataclass(frozen=True, slots=True)
class Lock:
    current: str
    releases: dict[str, Release]

    def release(self, name: str | None = None) -> Release:
        name = name or self.current
        try:
            return self.releases[name]
        except KeyError:
            known = ", ".join(sorted(self.releases))
            raise FetchError(f"release {name!r} is not in {LOCK_PATH.name} (known: {known})") from None


def load_lock(path: Path = LOCK_PATH) -> Lock:
    """Read and validate the lock file."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FetchError(f"cannot read the proto lock {path}: {exc}") from None
    files = data.get("files")
    url = data.get("url")
    current = data.get("current")
    if not isinstance(files, list) or not isinstance(url, str) or not isinstance(current, str):
        raise FetchError(f"{path} must define 'current', 'url' and 'files'")
    releases: dict[str, Release] = {}
    for name, entry in data.get("releases", {}).items():
        hashes = entry.get("sha256", {})
        missing = [f for f in files if f not in hashes]
        if missing:
            raise FetchError(f"{path}: release {name} has no sha256 for {', '.join(missing)}")
        releases[name] = Release(
            name=name,
            tag=str(entry.get("tag", name)),
            url=url,
            sha256=tuple((f, str(hashes[f])) for f in files),
        )
    lock = Lock(current=current, releases=releases)
    lock.release()  # the current release must exist
    return lock


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_source(release: Release, file: str, source: str | None) -> bytes:
    if source:
        path = Path(source) / release.name / file
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise FetchError(f"{file} of release {release.name} is missing: {path} does not exist") from None
        except OSError as exc:
            raise FetchError(f"cannot read {path}: {exc.strerror}") from None
    url = release.file_url(file)
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as answer:
            body: bytes = answer.read()
            return body
    except urllib.error.HTTPError as exc:
        raise FetchError(
            f"download of {file} (release {release.name}) failed: HTTP {exc.code} from {url}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"download of {file} (release {release.name}) from {url} failed: {reason}") from None


def fetch(
    release_name: str | None = None,
    *,
    dest_root: Path = PROTO_DIR,
    source: str | None = None,
    lock: Lock | None = None,
) -> Path:
    """Fetch one locked release into ``dest_root/<release>/`` and return that folder.

    Args:
        release_name: the release to fetch; the lock's ``current`` one by default.
        dest_root: where release folders are written (``proto/`` by default).
        source: a local directory holding one sub-folder per release; defaults to the
            ``CTRADER_PROTO_SOURCE`` environment variable, and to a download from upstream when unset.
        lock: the lock to use (``proto/lock.toml`` by default).

    Raises:
        FetchError: a file is missing, a download failed, or a hash does not match the lock. Nothing
            is written in that case; an existing good folder is left as it was.
    """
    lock = lock or load_lock()
    release = lock.release(release_name)
    if source is None:
        source = os.environ.get(SOURCE_ENV) or None
    dest = dest_root / release.name
    if _verified(dest, release):
        return dest
    dest_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".fetch-{release.name}-", dir=dest_root) as tmp:
        staging = Path(tmp) / release.name
        staging.mkdir()
        for file, expected in release.sha256:
            data = _read_source(release, file, source)
            actual = sha256_of(data)
            if actual != expected:
                raise FetchError(
                    f"{file} of release {release.name} does not match the lock: sha256 {actual}, "
                    f"expected {expected}"
                )
            (staging / file).write_bytes(data)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staging, dest)
    return dest


def _verified(folder: Path, release: Release) -> bool:
    """True when ``folder`` already holds exactly the locked files."""
    try:
        return all(sha256_of((folder / f).read_bytes()) == h for f, h in release.sha256)
    except OSError:
        return False
