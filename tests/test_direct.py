"""`batch/direct.py`: a file written around the page cache holds exactly the bytes written, in order,
whatever the sizes of the writes; where O_DIRECT is refused it is written the ordinary way."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from prospectguard.batch import direct
from prospectguard.batch.direct import ALIGN, DirectFile

SIZES = st.lists(st.integers(0, 3 * ALIGN + 7), max_size=12)


def payload(sizes: list[int]) -> list[bytes]:
    return [bytes((i * 31 + j) % 251 for j in range(n)) for i, n in enumerate(sizes)]


@settings(max_examples=60, deadline=None)
@given(SIZES)
def test_the_file_holds_what_was_written(tmp_path_factory: pytest.TempPathFactory, sizes: list[int]) -> None:
    path = tmp_path_factory.mktemp("direct") / "out.csv"
    pieces = payload(sizes)
    f = DirectFile(path)
    for piece in pieces:
        assert f.write(piece) == len(piece)
    f.close()
    assert path.read_bytes() == b"".join(pieces)


def test_writes_larger_than_the_staging_buffer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct, "STAGE_BYTES", 2 * ALIGN)
    pieces = payload([5 * ALIGN + 3, 1, 2 * ALIGN, ALIGN - 1])
    f = DirectFile(tmp_path / "out")
    for piece in pieces:
        f.write(memoryview(piece))
    f.close()
    f.close()  # twice: a no-op
    assert (tmp_path / "out").read_bytes() == b"".join(pieces)


def test_o_direct_is_used_on_this_file_system(tmp_path: Path) -> None:
    """The project's temporary directories are on a disk file system here (ext4): if O_DIRECT were
    never taken, the module would bring nothing."""
    f = DirectFile(tmp_path / "out")
    try:
        assert f.direct is hasattr(os, "O_DIRECT")
    finally:
        f.close()


def test_a_file_system_that_refuses_o_direct_is_written_the_ordinary_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems refuse O_DIRECT at open (EINVAL): the file is then opened without it."""
    if not hasattr(os, "O_DIRECT"):
        pytest.skip("no O_DIRECT on this platform")
    real = os.open

    def refusing(path: str, flags: int, mode: int = 0o777) -> int:
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(path, flags, mode)

    monkeypatch.setattr(direct.os, "open", refusing)
    path = tmp_path / "out"
    f = DirectFile(path)
    assert not f.direct
    pieces = payload([ALIGN + 5, 17])
    for piece in pieces:
        f.write(piece)
    f.close()
    assert path.read_bytes() == b"".join(pieces)


def test_a_refused_direct_write_falls_back_without_losing_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A device that wants more alignment refuses the write itself (EINVAL): the rest goes through
    the page cache, and the file is whole."""
    real = os.write
    refused = []

    def picky(fd: int, data: memoryview | bytes) -> int:
        if not refused:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data)

    f = DirectFile(tmp_path / "out")
    monkeypatch.setattr(direct.os, "write", picky)
    pieces = payload([3 * ALIGN + 9, ALIGN])
    for piece in pieces:
        f.write(piece)
    f.close()
    assert refused and not f.direct
    assert (tmp_path / "out").read_bytes() == b"".join(pieces)
