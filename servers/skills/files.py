"""A skill's own files, confined to its folder: listing, path resolution and capped reads."""

from __future__ import annotations

import mimetypes
import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from servers.skills.model import Skill

# Safety caps: what one skill may cost the server.
MAX_SKILL_MD_BYTES = 256 * 1024
MAX_READ_BYTES = 1024 * 1024
MAX_FILES_PER_SKILL = 200
MAX_WALK_DEPTH = 6

SKILL_FILE_NAMES = ("SKILL.md", "skill.md")

IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}
# Text is decided by content (UTF-8 without NUL), these only name the MIME type of common ones.
TEXT_TYPES = {
    ".md": "text/markdown",
    ".py": "text/x-python",
    ".sh": "text/x-shellscript",
    ".txt": "text/plain",
}


class SkillFileError(ValueError):
    """A path a skill cannot serve; the message tells the model what to do instead."""


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + os.sep)


def list_skill_files(folder: Path) -> list[str]:
    """Regular files under `folder` (relative POSIX paths, sorted), capped in count and depth.

    Hidden entries, SKILL.md itself, symlinks that lead outside the folder and anything that is not a
    regular file (FIFOs, devices, sockets) are left out.
    """
    real_folder = os.path.realpath(folder)
    found: list[str] = []

    def walk(directory: str, depth: int) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if len(found) >= MAX_FILES_PER_SKILL:
                return
            if entry.name.startswith("."):
                continue
            real = os.path.realpath(entry.path)
            if not _inside(real, real_folder):
                continue
            try:
                mode = os.stat(real).st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode):
                if depth < MAX_WALK_DEPTH and not entry.is_symlink():
                    walk(entry.path, depth + 1)
            elif stat.S_ISREG(mode):
                rel = os.path.relpath(entry.path, folder).replace(os.sep, "/")
                if depth == 0 and rel in SKILL_FILE_NAMES:
                    continue
                found.append(rel)

    walk(str(folder), 0)
    return found


def resolve_skill_path(folder: Path, relative: str) -> Path:
    """The real path of `relative` inside `folder`, or SkillFileError when it would leave it."""
    if not relative or "\x00" in relative:
        raise SkillFileError("give a file path relative to the skill folder, e.g. 'references/guide.md'")
    posix = PurePosixPath(relative.replace("\\", "/"))
    if posix.is_absolute() or (posix.parts and posix.parts[0].endswith(":")):
        raise SkillFileError(f"'{relative}' is absolute: paths are relative to the skill folder")
    if ".." in posix.parts:
        raise SkillFileError(f"'{relative}' leaves the skill folder ('..' is not allowed)")
    if any(part.startswith(".") for part in posix.parts):
        # What listings leave out is not served either: `.env`, `.git/config` of a checked-out skill.
        raise SkillFileError(f"'{relative}' is hidden (a dot-file or dot-folder) and is not served")
    real_folder = os.path.realpath(folder)
    real = os.path.realpath(os.path.join(real_folder, *posix.parts))
    if not _inside(real, real_folder) or real == real_folder:
        raise SkillFileError(f"'{relative}' resolves outside the skill folder (a symlink out is not served)")
    return Path(real)


def read_skill_md(skill: Skill, max_bytes: int = MAX_SKILL_MD_BYTES) -> str:
    """A skill's SKILL.md (or one-file .md) as it is on disk now, refused when it has become a
    symlink out of the skills folder since it was loaded."""
    home = skill.path.parent.parent if skill.folder is not None else skill.path.parent
    real = os.path.realpath(skill.path)
    if not _inside(real, os.path.realpath(home)):
        raise SkillFileError(f"skill {skill.name!r} now resolves outside the skills folder; it is not served")
    try:
        with open(real, "rb") as handle:
            data = handle.read(max_bytes)
    except OSError as e:
        raise SkillFileError(f"skill {skill.name!r} cannot be read now: {e.strerror}") from e
    return data.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class FileContent:
    kind: str  # "text" | "image" | "binary"
    mime_type: str
    text: str = ""
    data: bytes = b""


def read_skill_file(folder: Path, relative: str, *, max_bytes: int = MAX_READ_BYTES) -> FileContent:
    """Text as text, images and other binaries as bytes with their MIME type; oversize files refused."""
    path = resolve_skill_path(folder, relative)
    try:
        # O_NONBLOCK: opening a FIFO must not hang the server; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError as e:
        raise SkillFileError(f"'{relative}' does not exist in this skill") from e
    except OSError as e:
        raise SkillFileError(f"'{relative}' cannot be read: {e.strerror}") from e
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise SkillFileError(f"'{relative}' is a folder; load_skill lists the files inside it")
        if not stat.S_ISREG(info.st_mode):
            raise SkillFileError(
                f"'{relative}' is not a regular file (device, FIFO or socket) and is not served"
            )
        if info.st_size > max_bytes:
            raise SkillFileError(
                f"'{relative}' is {info.st_size} bytes; files over {max_bytes} bytes are not served"
            )
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise SkillFileError(f"'{relative}' is over {max_bytes} bytes and is not served")
    suffix = path.suffix.lower()
    if suffix in IMAGE_TYPES:
        return FileContent("image", IMAGE_TYPES[suffix], data=data)
    if b"\x00" not in data[:8192]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            mime = TEXT_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"
            return FileContent("text", mime if mime.startswith("text/") else "text/plain", text=text)
    # Other binaries are served as bytes (resources/read answers them as blobs).
    return FileContent("binary", mimetypes.guess_type(path.name)[0] or "application/octet-stream", data=data)
