"""The artifact store a Ray sweep's nodes share: a folder every node can read or an fsspec URL
(s3://, gs://, file://), holding artifacts under the content hash of the local cache
(cache.root_for("artifacts")/KEY), so a cell exported on one node is fetched, not exported again."""

from __future__ import annotations

from pathlib import Path

from slm_edge import cache
from slm_edge.contract import MANIFEST
from slm_edge.errors import BadInput


def _fs(url: str):
    try:
        import fsspec
    except ImportError:
        raise BadInput("an artifact store needs fsspec, which is not installed", "pip install fsspec") from None
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:  # s3:// without s3fs, an unknown protocol
        raise BadInput(f"cannot open the artifact store {url}: {exc}",
                       "install the fsspec backend for it (s3fs, gcsfs) or use a shared folder") from None
    return fs, root.rstrip("/")


def has(key: str, url: str) -> bool:
    fs, root = _fs(url)
    return fs.exists(f"{root}/{key}/{MANIFEST}")


def put(folder: Path, key: str, url: str) -> None:
    """Upload an artifact folder under KEY, its manifest last: a reader sees a manifest only once
    every file it lists is there."""
    if has(key, url):
        return
    fs, root = _fs(url)
    fs.makedirs(f"{root}/{key}", exist_ok=True)
    files = sorted((p for p in Path(folder).iterdir() if p.is_file()), key=lambda p: p.name == MANIFEST)
    for path in files:
        fs.put_file(str(path), f"{root}/{key}/{path.name}")


def fetch(key: str, url: str) -> Path:
    """The artifact KEY in the local cache, downloaded from the store unless it is there already."""
    local = cache.root_for("artifacts") / key
    if (local / MANIFEST).is_file():
        return local
    if not has(key, url):
        raise BadInput(f"artifact {key[:16]} is not in the store {url}", "rerun the sweep: its export runs again")
    fs, root = _fs(url)
    with cache.staging_dir(local) as staging:
        for remote in fs.ls(f"{root}/{key}", detail=False):
            fs.get_file(remote, str(staging / Path(remote).name))
    return local
