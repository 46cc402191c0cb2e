"""Files written atomically, and one clear error when they cannot be.

Every file jetflow writes for a later step to read (results, export shards, ROOT files, generated
samples and their manifests, trained models and their records, GAN checkpoints, shipped copies of
plugin and model files, calibrations, workflow records, the report's index) is written through
:func:`atomic_write` (plots are drawn by matplotlib in place): under a temporary name in the target's
folder, then renamed over the target.  A reader never sees half a file; a write that fails or is
killed leaves no file that looks complete and no temporary behind; and a write the system refuses
(``No space left on device``, a read-only or vanished folder, no permission) raises
:class:`OutputError` naming the file and the reason in one line, which the command line prints
as it is.  A writer killed outright (SIGKILL) leaves its hidden temporary
``.<8 hex>.part.<name>`` behind, which nothing reads.  Checkpoints, which may live on any fsspec
filesystem, follow the same rule through fsspec (:mod:`jetflow.running.checkpoint`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from jetflow.core.errors import OutputError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, what: str = "file") -> Iterator[Path]:
    """Give a temporary path beside ``path`` to write; rename it to ``path`` when the block ends without error.

    The temporary name is hidden (it starts with a dot) and ends with ``path``'s own name, so that
    writers that check the suffix (Keras' ``.keras``) accept it and globs for the finished files
    (``*.root``, ``*.parquet``) never see it.

    Parameters
    ----------
    path
        The file to write; its folder must exist.
    what
        What the file is, for the error message (``"result"``, ``"export shard"``, ...).

    Raises
    ------
    OutputError
        An ``OSError`` while writing or renaming: ``"<what> <path>: cannot be written (<reason>)"``.
        Any other exception of the block is raised as it is; either way the temporary is removed.
    """
    path = Path(path)
    tmp = path.with_name(f".{uuid.uuid4().hex[:8]}.part.{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as exc:
        raise OutputError(f"{what} {path}: cannot be written ({exc.strerror or exc})") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes, what: str = "file") -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`); returns ``path``."""
    with atomic_write(path, what) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str, what: str = "file") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write`); returns ``path``."""
    return write_bytes(path, text.encode(), what)
