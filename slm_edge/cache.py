"""Content hashes and the on-disk cache (converted sources, exported artifacts)."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

_CHUNK = 4 * 1024 * 1024


def cache_root() -> Path:
    root = os.environ.get("SLM_EDGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "slm-edge"
    )
    return Path(root)


def sha256_file(path: Path) -> str:
    """sha256 of a file, memoised by (path, size, mtime) so multi-GB weights are read once."""
    path = Path(path)
    stat = path.stat()
    memo_dir = cache_root() / "hashes"
    memo_key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    memo = memo_dir / memo_key
    if memo.exists():
        return memo.read_text().strip()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            digest.update(block)
    value = digest.hexdigest()
    memo_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(memo, value)
    return value


def sha256_json(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


# The modules whose code shapes an artifact or its manifest: a change to any of them must not be
# served a cached artifact built by the old code (the version string alone misses development edits).
ARTIFACT_CODE = ("export/**/*.py", "model/quant.py", "model/sources.py", "model/memory.py", "model/cards.py",
                 "model/cards/*.json", "contract.py", "records/_json.py", "records/manifest.py",
                 "records/program_format.py", "records/schemas/manifest.schema.json")


def artifact_code_hash(package_root: Path | None = None) -> str:
    """sha256 over the files in ARTIFACT_CODE (names and bytes) below the slm_edge package."""
    return _hash_code(Path(package_root)) if package_root else _installed_code_hash()


@functools.cache
def _installed_code_hash() -> str:
    # read once per process, at first use: it then describes the code this process loaded, and the
    # cache key and manifest of every export (and sweep cell) share one reading
    return _hash_code(Path(__file__).parent)


def _hash_code(root: Path) -> str:
    digest = hashlib.sha256()
    for pattern in ARTIFACT_CODE:
        for path in sorted(root.glob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same folder, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def staging_dir(final: Path):
    """Yield a temp folder beside `final`; on success it replaces `final` in one rename.

    On failure the temp folder is removed, so nothing half-written looks like a finished result.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial"))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


def root_for(kind: str) -> Path:
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
