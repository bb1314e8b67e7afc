"""SHA-256 digests of skill files for the skills extension, computed when first asked for.

Start-up never hashes anything (10,000 skills load as fast as without the extension). A digest is
cached with the file's stat signature and recomputed when the signature changes, so an edited file
never keeps its old digest, with or without hot reload.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading

from servers.skills.files import MAX_READ_BYTES, MAX_SKILL_MD_BYTES

_CHUNK = 256 * 1024
# Larger than any file the server serves (SKILL.md and other files are capped below this).
MAX_DIGEST_BYTES = max(MAX_READ_BYTES, MAX_SKILL_MD_BYTES)

Signature = tuple[int, int, int, int]


class FileDigests:
    """(`sha256:<hex>`, size in bytes) of files by path, cached per (mtime, ctime, size, inode)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[Signature, tuple[str, int]]] = {}
        self._lock = threading.Lock()  # digests are computed in worker threads
        self.computed = 0  # files actually hashed (a test sees the cache work)

    def digest(self, path: str) -> tuple[str, int] | None:
        """(digest, size) of the regular file at `path`, or None when it is not one (gone, too big)."""
        try:
            info = os.stat(path)
        except OSError:
            return None
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_DIGEST_BYTES:
            return None
        signature = (info.st_mtime_ns, info.st_ctime_ns, info.st_size, info.st_ino)
        with self._lock:
            cached = self._cache.get(path)
        if cached is not None and cached[0] == signature:
            return cached[1]
        hasher = hashlib.sha256()
        size = 0
        try:
            with open(path, "rb") as handle:
                while chunk := handle.read(_CHUNK):
                    hasher.update(chunk)
                    size += len(chunk)
                after = os.fstat(handle.fileno())
        except OSError:
            return None
        value = (f"sha256:{hasher.hexdigest()}", size)
        # Written while hashed: do not cache under a signature the bytes may not match.
        if (after.st_mtime_ns, after.st_ctime_ns, after.st_size, after.st_ino) == signature:
            with self._lock:
                self._cache[path] = (signature, value)
        self.computed += 1
        return value
