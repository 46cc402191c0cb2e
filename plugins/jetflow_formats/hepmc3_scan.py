"""The byte-level side of the ``hepmc3`` source (:mod:`jetflow_formats.hepmc3`): one pass over a HepMC3 ASCII
file's text that counts its events, gathers the chosen weight of each and checks the file is whole
(:func:`scan`), and the stream that hands HepMC3's parser the header and then the text from event ``start``
on (:func:`from_event`), so that the events before a chunk are skipped by counting lines, never parsed.

Where events begin is remembered per process (:data:`_STARTS`, keyed by the file's path, size and
modification time): the scan notes every ``E`` line's byte offset, and :func:`from_event` the one it finds,
so a chunk of an uncompressed file seeks to its first event, or counts only from the nearest event known
before it, instead of from the file's first byte (each chunk would otherwise rescan all before it).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from jetflow import InputError

BLOCK = 1 << 22
"""Bytes read at a time by the scans (cut at a line end)."""
FOOTER = b"HepMC::Asciiv3-END_EVENT_LISTING"
_LINE = re.compile(rb"\n([EW]) ([^\n]*)")


@contextlib.contextmanager
def open_bytes(path: str) -> Iterator[Any]:
    """The file as bytes (decompressed where its name says so), or an InputError naming it."""
    import fsspec

    opened = fsspec.open(path, "rb", compression="infer")
    try:
        handle = opened.__enter__()
    except Exception as exc:
        raise InputError(f"file {path}: cannot be opened ({type(exc).__name__}: {exc})") from exc
    try:
        yield handle
    finally:
        opened.__exit__(None, None, None)


def uncompressed(path: str) -> bool:
    """A local file whose name names no compression (its bytes are its text, so it can be seeked in)."""
    from fsspec.utils import infer_compression

    return "://" not in path and infer_compression(path) is None


class _Blocks:
    """The file's text in blocks of whole lines, each with a ``\\n`` in front (so that every line, the first
    included, starts after a ``\\n``); ``rest`` is what was read past the last block's last line end;
    ``offset`` is the byte offset (in the file's text) of the block last yielded, given the one of the first."""

    def __init__(self, f, path: str, offset: int = 0) -> None:
        self.f, self.path, self.rest = f, path, b""
        self.offset, self._next = offset, offset

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                data = self.f.read(BLOCK)
            except Exception as exc:
                raise InputError(f"file {self.path}: cannot be read ({type(exc).__name__}: {exc})") from exc
            if not data:
                if self.rest:
                    last, self.rest = self.rest, b""
                    self.offset = self._next
                    yield b"\n" + last
                return
            data = self.rest + data
            cut = data.rfind(b"\n")
            if cut < 0:
                self.rest = data
                continue
            self.rest = data[cut + 1:]
            self.offset, self._next = self._next, self._next + cut + 1
            yield b"\n" + data[: cut + 1]


def check_header(first: bytes, path: str) -> None:
    """An InputError unless the first block is HepMC3 ASCII's (HepMC2's gets its own message)."""
    if b"HepMC::Asciiv3-START_EVENT_LISTING" in first:
        return
    if b"HepMC::IO_GenEvent-START_EVENT_LISTING" in first:
        raise InputError(f"file {path}: a HepMC2 file; the hepmc3 source reads HepMC3 ASCII (convert it with "
                         "HepMC3's convert_example or pyhepmc)")
    raise InputError(f"file {path}: not a HepMC3 ASCII file (it begins {first[1:41]!r}; expected "
                     "HepMC::Version and HepMC::Asciiv3-START_EVENT_LISTING)")


def weight_column(choice: int | str, names: list[str] | None, path: str) -> int:
    """The index of the chosen weight: ``choice`` itself, or the place of that name in the header's names."""
    if isinstance(choice, int):
        if choice < 0:
            raise InputError(f"file {path}: formats.hepmc3.weight = {choice}: an index must be >= 0")
        return choice
    if not names:
        raise InputError(f"file {path}: formats.hepmc3.weight = {choice!r}, but the file names no weights "
                         "(no W line in its header); give the weight's index")
    if choice not in names:
        raise InputError(f"file {path}: no weight named {choice!r} (the file's weights: {', '.join(names)})")
    return names.index(choice)


def _weight_names(line: bytes) -> list[str]:
    """The names of a header's ``W`` line: separated by ``\\|`` (HepMC3 3.2 on, names may hold spaces), or by
    spaces (older files)."""
    text = line.decode(errors="replace").strip()
    return text.split("\\|") if "\\|" in text else text.split()


@dataclass(frozen=True)
class Scan:
    """What one pass over a file's text finds: its number of events, the chosen weight of each and the byte
    offset of each one's ``E`` line in the file's (decompressed) text."""

    events: int
    weights: np.ndarray
    offsets: np.ndarray


def scan(path: str, choice: int | str = 0) -> Scan:
    """One pass over the file's bytes, no event parsed: the events (``E`` lines), the chosen weight of each
    (its ``W`` line; 1 without one), every event's ``P`` lines against the count on its ``E`` line, and the
    closing line.  InputErrors name the file and the entry where it breaks."""
    weights: list[float] = []
    offsets: list[int] = []
    names: list[str] | None = None
    column = None
    expected = found = 0
    last = b""
    with open_bytes(path) as f:
        blocks = _Blocks(f, path)
        for k, text in enumerate(blocks):
            if k == 0:
                check_header(text, path)
            pos = 0
            for m in _LINE.finditer(text):
                if m[1] == b"E":
                    if weights:
                        found += text.count(b"\nP ", pos, m.start())
                        _check_particles(path, len(weights) - 1, found, expected)
                    fields = m[2].split()
                    expected, found, pos = int(fields[2]) if len(fields) > 2 else 0, 0, m.start()
                    weights.append(1.0)
                    offsets.append(blocks.offset + m.start())
                elif not weights:
                    names = _weight_names(m[2])
                else:
                    if column is None:
                        column = weight_column(choice, names, path)
                    values = m[2].split()
                    if column >= len(values):
                        raise InputError(too_few_weights(path, len(weights) - 1, choice, column, len(values)))
                    try:
                        weights[-1] = float(values[column])
                    except ValueError:
                        raise InputError(f"file {path}, event entry {len(weights) - 1}: its W line holds "
                                         f"{values[column][:40]!r}, not a number") from None
            if weights:
                found += text.count(b"\nP ", pos)
            tail = text.rstrip()
            if tail:
                last = tail[tail.rfind(b"\n") + 1:]
        if not weights and not last:
            raise InputError(f"file {path}: empty")
    if weights:
        _check_particles(path, len(weights) - 1, found, expected)
    if last.strip() != FOOTER:
        raise InputError(f"file {path}: truncated after event entry {len(weights) - 1}: it does not end with "
                         f"{FOOTER.decode()}")
    if isinstance(choice, str) and column is None:
        weight_column(choice, names, path)
    found = Scan(len(weights), np.asarray(weights, dtype=np.float64), np.asarray(offsets, dtype=np.int64))
    starts = _starts(path)
    if starts is not None:
        starts.update(zip(range(found.events), found.offsets.tolist()))
    return found


def _check_particles(path: str, entry: int, found: int, expected: int) -> None:
    """An InputError when an event has fewer (or more) ``P`` lines than its ``E`` line says."""
    if found != expected:
        raise InputError(f"file {path}, event entry {entry}: {found} of the {expected} particles its E line "
                         "announces; the file is truncated or damaged there")


_SCANS: dict[tuple, Scan] = {}
_STARTS: dict[tuple, dict[int, int]] = {}
"""``{file key: {event entry: byte offset of its E line}}``: where events begin, as far as known in this process."""


def _file_key(path: str) -> tuple | None:
    """A local file's path, size and modification time (a changed file is a new key); None for a URL."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (path, st.st_size, st.st_mtime_ns)


def _starts(path: str) -> dict[int, int] | None:
    """The known event starts of a local file (an empty dict the first time), None where none are kept."""
    key = _file_key(path)
    if key is None:
        return None
    if key not in _STARTS and len(_STARTS) > 64:
        _STARTS.clear()
    return _STARTS.setdefault(key, {})


def cached_scan(path: str, choice: int | str) -> Scan:
    """:func:`scan`, done once per file (its size and modification time) and weight choice in a process."""
    key = _file_key(path)
    if key is None:
        return scan(path, choice)
    key = (*key, choice)
    if key not in _SCANS:
        if len(_SCANS) > 256:
            _SCANS.clear()
        _SCANS[key] = scan(path, choice)
    return _SCANS[key]


class _Spliced(io.RawIOBase):
    """A read-only stream of some bytes followed by the rest of a file (the header, then event ``start``)."""

    def __init__(self, parts: list[bytes], f) -> None:
        self.parts, self.f = [memoryview(p) for p in parts if p], f

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self.parts:
            head = self.parts[0]
            k = min(len(buffer), len(head))
            buffer[:k] = head[:k]
            self.parts[0] = head[k:]
            if not len(self.parts[0]):
                self.parts.pop(0)
            return k
        return self.f.readinto(buffer) if hasattr(self.f, "readinto") else _read_into(self.f, buffer)


def _read_into(f, buffer) -> int:
    """``readinto`` for file objects that only have ``read``."""
    data = f.read(len(buffer))
    buffer[: len(data)] = data
    return len(data)


def from_event(f, start: int, path: str, seekable: bool = False) -> io.BufferedReader:
    """The header of the file, then its text from the ``start``-th ``E`` line on: the events before it are
    skipped by counting ``E`` lines in the bytes, never parsed; where ``f`` is ``seekable`` (uncompressed)
    and an event at or before ``start`` is known to begin at some byte (:data:`_STARTS`), from that byte."""
    starts = _starts(path)
    header: list[bytes] = []
    seen, offset = -1, 0  # E lines before the current block; -1 until the first is found (the header ends there)
    if seekable and starts and 0 in starts:
        seen = max((e for e in starts if e <= start), default=0) if start not in starts else start
        f.seek(0)
        header.append(f.read(starts[0]))
        check_header(b"\n" + header[0], path)
        offset = starts[seen]
        f.seek(offset)
    blocks = _Blocks(f, path, offset)
    for k, text in enumerate(blocks):
        if k == 0 and seen < 0:
            check_header(text, path)
        pos = 0
        if seen < 0:
            first = text.find(b"\nE ")
            if first < 0:
                header.append(text[1:])
                continue
            header.append(text[1: first + 1])
            seen, pos = 0, first
            if starts is not None:
                starts[0] = blocks.offset + first
        count = text.count(b"\nE ", pos)
        if seen + count > start:
            pos = text.find(b"\nE ", pos)  # event `seen`: the first E line from pos on (a block may begin with one)
            for _ in range(start - seen):
                pos = text.find(b"\nE ", pos + 1)
            if starts is not None:
                starts[start] = blocks.offset + pos
            return io.BufferedReader(_Spliced([*header, text[pos + 1:], blocks.rest], f), BLOCK)
        seen += count
    raise InputError(f"file {path}: has {max(seen, 0)} events, so no event entry {start}")


def too_few_weights(path: str, entry: int, choice: int | str, column: int, n: int) -> str:
    """The message of an event that has no weight ``column``."""
    return (f"file {path}, event entry {entry}: formats.hepmc3.weight = {choice!r} is weight {column}, but the "
            f"event has {n} weight(s)")
