"""A lab's private directory: created 0700, locked while its lab lives, swept once its owner is gone.

Each lab keeps its SQLite store in a fresh directory under the temp folder
(``apisec-lab-*``).  A lab that stops, or a process that exits normally,
deletes its directory.  A process killed outright (SIGKILL, a kernel that
dies) cannot, so the next lab to start on the machine sweeps what such
processes left.

Telling a dead lab's directory from a live one's by process id would be
wrong twice over: ids are reused, and the id of a process on another account
says nothing to us.  Instead each live lab holds an exclusive ``flock`` on a
file in its directory.  The kernel releases that lock when the process dies,
however it dies, so a sweeper that can take the lock knows the owner is gone,
and one that cannot leaves the directory alone.  The sweeper only looks at
real directories (no symlinks) owned by its own account, and only at those
carrying a lock file: a directory it cannot prove dead is never removed.
Without ``fcntl`` (Windows) nothing is locked and nothing is swept.
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
import weakref
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock, so no proof of death, so no sweeping
    fcntl = None

PREFIX = "apisec-lab-"
#: The file a live lab holds locked.  It gets this name only once it is locked.
LOCK = "owner.lock"


def _lock(fd: int, blocking: bool) -> bool:
    """Take the exclusive lock on *fd*; False when another process holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


class StoreDir:
    """A fresh 0700 directory under *root* (default: the temp folder), held until :meth:`remove`."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.path = Path(tempfile.mkdtemp(prefix=PREFIX, dir=root))
        self._fd: int | None = None
        if fcntl is not None:
            # Lock under a temporary name, then rename: a sweeper only ever sees
            # the lock file already locked, never in the instant before.
            pending = self.path / f".{LOCK}.pending"
            self._fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            _lock(self._fd, blocking=True)
            os.rename(pending, self.path / LOCK)
        # A process that exits without stopping its lab still removes the directory.
        self._finalizer = weakref.finalize(self, _remove, self.path, self._fd)

    def remove(self) -> None:
        """Delete the directory and release the lock.  Idempotent."""
        self._finalizer()

    @property
    def removed(self) -> bool:
        return not self._finalizer.alive


def _remove(path: Path, fd: int | None) -> None:
    shutil.rmtree(path, ignore_errors=True)
    if fd is not None:
        os.close(fd)


def sweep(root: str | os.PathLike | None = None) -> list[Path]:
    """Remove the store directories under *root* whose owning process no longer exists; return them.

    Safe against every live lab on the machine, on any account: see the module's docstring.
    """
    if fcntl is None:
        return []
    root = Path(tempfile.gettempdir() if root is None else root)
    removed = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith(PREFIX):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        try:
            fd = os.open(Path(entry.path) / LOCK, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:       # no lock file: not a lab of this kind, or not ours to judge
            continue
        try:
            if _lock(fd, blocking=False):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(Path(entry.path))
        finally:
            os.close(fd)
    return removed
