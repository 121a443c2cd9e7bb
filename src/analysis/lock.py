"""One writer per report folder: a lock file inside the folder, held while a run writes to it.

``with FolderLock(out):`` takes ``out/.analysis.lock``. The exclusion itself is an
``fcntl.flock`` on that file, so the kernel releases it when the holder ends in any
way, even ``kill -9``; the file's content says who holds it (process id, host and
start time, as JSON) so that a second run can name the running one:

* **Wait** (default): the second run prints once "the report folder ... is in use by
  process 4711 on host, running since 2026-12-01 17:40:02; waiting for it to finish"
  and takes the lock when the first releases it.
* **No wait**: :class:`FolderBusy` is raised at once with that message
  (``analysis run --no-wait`` exits with status 2).
* **Stale**: a lock file left by a process that ended without releasing it (its pid
  no longer alive on this host, or a run killed outright) is taken over with a message.

The lock file is removed on release: on normal exit, on errors and on
``KeyboardInterrupt`` (the ``with`` block's exit runs for every exception).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

#: Name of the lock file inside the report folder.
LOCK_FILE = ".analysis.lock"
#: Seconds between two attempts while waiting for another run.
POLL_SECONDS = 0.2
#: Seconds to wait for a holder that has just taken the lock to write who it is.
_WRITE_GRACE = 1.0


class FolderBusy(RuntimeError):
    """Another process holds the folder's lock, and the caller would not wait.

    Attributes
    ----------
    holder : Holder or None
        Who holds it, when the lock file says.
    """

    def __init__(self, message: str, holder: Holder | None = None):
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Holder:
    """Who holds a folder's lock.

    Attributes
    ----------
    pid : int
        Process id of the holder.
    host : str
        Host name of the machine it runs on.
    since : float
        When it took the lock, seconds since the epoch.
    """

    pid: int
    host: str
    since: float

    @classmethod
    def me(cls) -> Holder:
        """The calling process, now."""
        return cls(os.getpid(), socket.gethostname(), time.time())

    def describe(self) -> str:
        """``process 4711 on host, running since 2026-12-01 17:40:02`` (local time)."""
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"process {self.pid} on {self.host}, running since {since}"

    def alive(self) -> bool | None:
        """Whether the process still runs: None when it runs on another host (not known here)."""
        if self.host != socket.gethostname():
            return None
        return pid_alive(self.pid)

    def to_json(self) -> str:
        """The lock file's content."""
        return json.dumps({"pid": self.pid, "host": self.host, "since": self.since}) + "\n"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (signal 0 checks without sending anything)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, but belongs to someone else
        return True
    return True


def read_holder(path: str | Path) -> Holder | None:
    """The holder a lock file names, or None when it is missing, empty or unreadable."""
    try:
        return parse_holder(Path(path).read_text(encoding="utf-8"))
    except OSError:
        return None


def parse_holder(text: str) -> Holder | None:
    """The holder that a lock file's content names, or None when it names none."""
    try:
        data = json.loads(text)
        return Holder(int(data["pid"]), str(data["host"]), float(data["since"]))
    except (ValueError, KeyError, TypeError):
        return None


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class FolderLock:
    """Exclusive lock on a report folder, as a context manager.

    Parameters
    ----------
    folder : str or Path
        The report folder; it must exist. The lock file is ``folder/.analysis.lock``.
    wait : bool, default True
        Wait for another holder to finish (printing once who it is); when False,
        raise :class:`FolderBusy` instead.
    timeout : float, optional
        Give up waiting after this many seconds with :class:`FolderBusy`; None waits
        as long as it takes.
    notify : callable, optional
        Called with each message (waiting, stale lock taken over); default prints
        to stderr.

    Examples
    --------
    >>> with FolderLock("reports"):  # doctest: +SKIP
    ...     write_the_reports()
    """

    def __init__(self, folder: str | Path, wait: bool = True, timeout: float | None = None,
                 notify: Callable[[str], None] | None = None):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.wait, self.timeout = wait, timeout
        self.notify = notify or _stderr
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def acquire(self) -> FolderLock:
        """Take the lock, waiting for another holder if asked to.

        Returns
        -------
        FolderLock
            self.

        Raises
        ------
        FolderBusy
            Another process holds it and ``wait`` is False, or ``timeout`` ran out.
        RuntimeError
            This object holds it already.
        """
        if self.held:
            raise RuntimeError(f"{self.path} is already held by this process")
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        told = False
        while not self._try_take():
            holder = self._holder_of_busy_lock()
            if not self.wait or (deadline is not None and time.monotonic() >= deadline):
                reason = "not waiting" if not self.wait else f"gave up after {self.timeout:g} s"
                raise FolderBusy(self._busy_message(holder, reason), holder)
            if not told:
                self.notify(self._busy_message(holder, "waiting for it to finish"))
                told = True
            time.sleep(POLL_SECONDS)
        return self

    def release(self) -> None:
        """Remove the lock file and let the next run in; nothing happens when not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if self._same_file(fd):
                os.unlink(self.path)  # while still holding it: a waiter then finds a new file
        finally:
            os.close(fd)  # releases the flock

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()

    def _try_take(self) -> bool:
        """One attempt: lock the file without blocking, and write who we are if that worked."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            if self._same_file(fd):
                break
            os.close(fd)  # the holder removed it between our open and our lock: try the new file
        self._announce_stale(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, Holder.me().to_json().encode(), 0)
        self._fd = fd
        return True

    def _same_file(self, fd: int) -> bool:
        """Whether the open file is still the one at :attr:`path` (not removed or replaced)."""
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def _announce_stale(self, fd: int) -> None:
        """A locked file that still names a holder was left by a run that ended without releasing it."""
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        if not text.strip():
            return
        holder = parse_holder(text)
        if holder is None:
            self.notify(f"taking over the unreadable lock file {self.path}")
            return
        state = {False: "no longer running", True: "running, but no longer holding the lock",
                 None: "no longer holding the lock"}[holder.alive()]
        self.notify(f"taking over the stale lock on the report folder {self.folder}: "
                    f"{holder.describe()} is {state}")

    def _holder_of_busy_lock(self) -> Holder | None:
        """Who holds the lock, giving a holder that has just taken it a moment to write its name."""
        deadline = time.monotonic() + _WRITE_GRACE
        holder = read_holder(self.path)
        while holder is None and time.monotonic() < deadline:
            time.sleep(0.05)
            holder = read_holder(self.path)
        return holder

    def _busy_message(self, holder: Holder | None, what_now: str) -> str:
        who = holder.describe() if holder else "another process"
        return f"the report folder {self.folder} is in use by {who}; {what_now}"
