"""Cursors of the skills listings: the name of the last skill of the previous page.

A name is kept (not an offset) so a page stays right when skills come and go between calls. A cursor
that could not have been a skill name is refused, instead of silently starting over at page one.
"""

from __future__ import annotations

from servers.skills.model import is_valid_name


class CursorError(ValueError):
    """A cursor no listing handed out."""


def check_cursor(cursor: str | None) -> str | None:
    """`cursor` when it is one a listing could have returned (None: start at the beginning)."""
    if cursor is None:
        return None
    if not is_valid_name(cursor):
        raise CursorError(
            f"malformed cursor {cursor[:80]!r}: pass the cursor of the previous answer unchanged, "
            "or none to start at the beginning"
        )
    return cursor
