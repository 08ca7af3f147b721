"""Writing a large output file around the page cache (O_DIRECT), where the file system allows it.

Why: a scrub of ten million rows writes 1.5 GB of outputs. Through the page cache, the kernel copies
every byte into cache pages it must first find: on a virtual machine that hands freed memory back to
its host (as the development machine does), such pages are backed anew, and that copy took up to
2 s of the scrub's 15-16 s of CPU (`dd` of 1.5 GB: 4.0 s of system time the first time, 0.3 s the
next; with O_DIRECT 0.1 s, every time). Written directly, the bytes go from one reused, aligned
buffer of this process to the file system. (No more durable than before: no fsync either way.)

O_DIRECT wants the buffer's address, the length and the file offset aligned to the device's block;
4096 bytes covers the usual 512 and 4096. Whole aligned blocks go directly; what remains (less than
a block) waits for more, and the file's last bytes are written through the page cache at the end.
Where O_DIRECT is refused (at open, or by a write: EINVAL), the file is written the ordinary way:
same bytes, same file. One thread at a time; after a failed write the object is only fit to be
discarded.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os
import weakref
from pathlib import Path

ALIGN = 4096
STAGE_BYTES = 8 << 20  # a multiple of ALIGN


class DirectFile:
    """A binary file written sequentially: `write(bytes-like)`, then `close()` (or `discard()`)."""

    def __init__(self, path: Path) -> None:
        # The buffer first: if it cannot be had, no file descriptor is left open.
        self._stage = mmap.mmap(-1, STAGE_BYTES, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # page-aligned
        self._view = memoryview(self._stage)
        self._used = 0
        self.closed = False
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        self.direct = hasattr(os, "O_DIRECT")
        try:
            self._fd = os.open(path, flags | (os.O_DIRECT if self.direct else 0), 0o666)
        except OSError as exc:
            if not self.direct or exc.errno != errno.EINVAL:
                raise
            self.direct = False
            self._fd = os.open(path, flags, 0o666)
        # Closed by `close`/`discard`, or when this object is collected on a path that skipped them.
        self._closing = weakref.finalize(self, os.close, self._fd)

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        if not self.direct:  # the ordinary way: no need to stage
            self._flush(everything=True)
            self._write_all(view)
            return size
        while len(view):
            take = min(STAGE_BYTES - self._used, len(view))
            self._view[self._used : self._used + take] = view[:take]
            self._used += take
            view = view[take:]
            if self._used == STAGE_BYTES:
                self._flush(everything=False)
        return size

    def _flush(self, *, everything: bool) -> None:
        """Write the staged bytes: the whole blocks (the rest moves to the buffer's start), or all.
        What was written leaves the buffer even when a later write fails: nothing is written twice."""
        ready = self._used if everything or not self.direct else self._used - self._used % ALIGN
        done = 0
        try:
            while done < ready:
                try:
                    done += self._write_once(self._view[done:ready])
                except OSError as exc:
                    if not self.direct or exc.errno != errno.EINVAL:
                        raise
                    self._buffered()  # refused (alignment): the rest goes through the page cache
                    ready = self._used
        finally:
            rest = self._used - done
            if rest and done:
                self._view[:rest] = self._view[done : self._used]
            self._used = rest

    def _write_all(self, view: memoryview) -> None:
        while len(view):
            view = view[self._write_once(view) :]

    def _write_once(self, view: memoryview) -> int:
        written = os.write(self._fd, view)
        if written <= 0:  # a file system that writes nothing and says no error: do not spin
            raise OSError(errno.EIO, "the file system wrote nothing")
        return written

    def _buffered(self) -> None:
        if self.direct:
            fcntl.fcntl(self._fd, fcntl.F_SETFL, fcntl.fcntl(self._fd, fcntl.F_GETFL) & ~os.O_DIRECT)
            self.direct = False

    def close(self) -> None:
        """Write what is staged (the last bytes through the page cache), then close."""
        if self.closed:
            return
        self.closed = True
        try:
            self._flush(everything=False)  # the whole blocks directly
            if self._used:
                self._buffered()
                self._flush(everything=True)
        finally:
            self._release()

    def discard(self) -> None:
        """Close without writing what is staged (the file is to be deleted); never raises."""
        if not self.closed:
            self.closed = True
            self._release()

    def _release(self) -> None:
        try:
            self._view.release()
            self._stage.close()
        finally:
            self._closing()  # os.close, once
