"""The content-addressed image store: ``root/ab/<sha256>.<ext>``.

A file's name is the SHA-256 of its bytes, so storing the same image twice keeps one file,
and a content address can never name anything outside ``root``: an address that is not 64
lowercase hex digits is refused before it touches the filesystem.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from engine.imageio import sniff_format

_SHA = re.compile(r"[0-9a-f]{64}")
_EXT = re.compile(r"[a-z0-9]{1,8}")


class InvalidAddress(ValueError):
    """Not a content address (64 lowercase hex digits)."""


def check_sha(sha: str) -> str:
    if not isinstance(sha, str) or not _SHA.fullmatch(sha):
        raise InvalidAddress(f"not a content address: {sha!r:.80}")
    return sha


def sniff_ext(data: bytes) -> str:
    """The file extension for encoded image bytes ("bin" when the format is unknown)."""
    fmt = sniff_format(data)
    return {"JPEG": "jpg", None: "bin"}.get(fmt) or fmt.lower()


class ImageStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, data: bytes, ext: str | None = "png") -> str:
        """Store ``data`` (``ext=None``: guess the extension from the bytes); return its
        SHA-256. Idempotent; the file appears atomically (temp file + rename) or not at all."""
        sha = hashlib.sha256(data).hexdigest()
        ext = sniff_ext(data) if ext is None else ext.lower().lstrip(".")
        if not _EXT.fullmatch(ext):
            raise ValueError(f"bad file extension {ext!r}")
        if self._find(sha) is not None:
            return sha
        shard = self.root / sha[:2]
        shard.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=shard, prefix=f".{sha[:8]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, shard / f"{sha}.{ext}")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return sha

    def path(self, sha: str) -> Path:
        """The file holding ``sha``; FileNotFoundError if it is not stored."""
        found = self._find(check_sha(sha))
        if found is None:
            raise FileNotFoundError(f"image {sha} is not in the store")
        return found

    def get(self, sha: str) -> bytes:
        return self.path(sha).read_bytes()

    def __contains__(self, sha: object) -> bool:
        return isinstance(sha, str) and _SHA.fullmatch(sha) is not None and self._find(sha) is not None

    def _find(self, sha: str) -> Path | None:
        shard = self.root / sha[:2]
        for candidate in shard.glob(f"{sha}.*"):
            if not candidate.name.endswith(".tmp"):
                return candidate
        return None
