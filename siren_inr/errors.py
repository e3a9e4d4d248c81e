"""The one exception type for errors a user can cause, and how a full disk is recognised under any wrapping."""

import errno


class SirenInrError(Exception):
    """A bad input or setting; the message names the bad value and what is accepted."""


_SQLITE_FULL = "database or disk is full"


def full_disk_error(err: BaseException | None) -> BaseException | None:
    """The innermost error of err's chain (what it was raised from or while handling) that says the disk (or a
    quota) is full: an OSError ENOSPC/EDQUOT, or SQLite's "database or disk is full" however MLflow or SQLAlchemy
    wrapped it; None when none does."""
    found, seen = None, set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if (isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)) or _SQLITE_FULL in str(err):
            found = err
        err = err.__cause__ or err.__context__
    return found


def disk_full(err: BaseException | None) -> bool:
    """Whether err comes from a full disk (see full_disk_error)."""
    return full_disk_error(err) is not None
