"""What the readers of the formats plugin share: an HDF5 file opened by path or URL, a ROOT file's identity,
and the one message of a file that cannot be read (:func:`reading`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from jetflow import InputError


def open_hdf5(path: str):
    """An ``h5py.File`` of a local path, or of a URL through fsspec (read only)."""
    import h5py

    if "://" in path:
        import fsspec

        return h5py.File(fsspec.open(path, "rb").open(), "r")
    return h5py.File(path, "r")


def unreadable(path: str, what: str, exc: BaseException) -> InputError:
    """The error of a file that cannot be read ``what`` (``"as HDF5"``, ``"at entries [0, 10)"``)."""
    return InputError(f"file {path}: cannot be read {what} ({type(exc).__name__}: {exc}): truncated or damaged?")


def at_entries(start: int, stop: int) -> str:
    """``"at entries [start, stop)"``, the ``what`` of :func:`unreadable` for a chunk."""
    return f"at entries [{start}, {stop})"


@contextlib.contextmanager
def reading(path: str, what: str) -> Iterator[None]:
    """The body's exceptions as :func:`unreadable` errors naming the file (its own InputErrors as they are)."""
    try:
        yield
    except InputError:
        raise
    except Exception as exc:
        raise unreadable(path, what, exc) from exc


def root_identity(path: str) -> bytes:
    """A ROOT file's UUID (16 bytes): a copy of the file has the same one."""
    import uproot

    with reading(path, "as ROOT"), uproot.open(path) as f:
        return bytes(f.file.fUUID)
