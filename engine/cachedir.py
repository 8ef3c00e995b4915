"""Directories that are slow to make and then never change (a converted checkpoint, a tiny
model): built once, atomically, and rebuilt only when their marker says they are stale."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

log = logging.getLogger(__name__)

MARKER = "dialogdraw-built.txt"


def is_built(path: Path, version: str) -> bool:
    marker = path / MARKER
    return marker.is_file() and marker.read_text().strip() == version


def build_once(target: Path, version: str, build: Callable[[Path], None], what: str) -> Path:
    """Return ``target``, first running ``build(tmpdir)`` if it is missing or was built for
    another ``version``. The build happens in a temporary sibling that is renamed into
    place, so a crash never leaves a half-built directory that looks complete, and
    concurrent builders (threads or processes) end with one good copy, built once."""
    target = Path(target)
    if is_built(target, version):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # A file lock, not a thread lock: two processes started at once (bot and a CLI) used to
    # both build, and one moved the other's finished copy aside while it was being loaded.
    # The lock file stays: deleting it would let a third process lock a fresh inode.
    with FileLock(target.parent / f".{target.name}.lock"):
        if is_built(target, version):
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            started = time.perf_counter()
            log.info("building %s in %s ...", what, target)
            build(tmp)
            (tmp / MARKER).write_text(version + "\n")
            if target.exists():  # stale or incomplete: move it aside, then replace
                stale = Path(tempfile.mkdtemp(prefix=f".{target.name}-stale-", dir=target.parent))
                os.replace(target, stale / target.name)
                shutil.rmtree(stale, ignore_errors=True)
            os.replace(tmp, target)
            log.info("built %s in %.1f s", what, time.perf_counter() - started)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target
