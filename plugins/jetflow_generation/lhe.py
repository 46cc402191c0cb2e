"""A user's Les Houches events showered by Pythia 8 (``jetflow generate --lhe FILE``).

Pythia reads the LHEF file itself (``Beams:frameType = 4``, ``Beams:LHEF = FILE``): the beams and the
processes come from its ``<init>`` block, every parton-level event is showered and hadronised with the seed
of its output file.  A sample is split into files as any other (:func:`jetflow_generation.pythia.plan`): file
``k`` showers the LHE events ``[k * events_per_file, (k + 1) * events_per_file)``, skipping the events before
at initialisation (``Beams:nSkipLHEFatInit``), so files are independent and the same seed gives the same
content whatever the number of workers.  The file is checked on the client first (:func:`check_lhe`): it
exists, is LHEF, is whole (every ``<event>`` closed, the closing ``</LesHouchesEvents>`` there) and holds the
events asked for; every failure is one :class:`jetflow.InputError` naming the file.
"""

from __future__ import annotations

import re
from pathlib import Path

from jetflow.core.errors import InputError

BLOCK = 1 << 22
_OPEN = re.compile(rb"<event[\s>]")


def lhe_strings(path: str, skip: int) -> list[str]:
    """Pythia's settings that read the LHE file ``path`` from its event ``skip`` on."""
    return ["Beams:frameType = 4", f"Beams:LHEF = {path}", f"Beams:nSkipLHEFatInit = {int(skip)}"]


def lhe_name(path: str) -> str:
    """The LHE file's name without its suffixes (``ttbar`` for ``ttbar.lhe.gz``), for the sample's file names."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", Path(path).name.split(".")[0]) or "lhe"


def count_lhe_events(path: str) -> int:
    """The number of events of an LHE file (plain or ``.gz``), from one pass over its bytes; an InputError
    naming the file when it is missing, not LHEF, or truncated."""
    import gzip

    file = Path(path)
    if not file.is_file():
        raise InputError(f"LHE file {path}: does not exist")
    opened, closed, rest, first, last, init = 0, 0, b"", b"", b"", False
    try:
        with (gzip.open(file, "rb") if file.name.endswith(".gz") else open(file, "rb")) as f:
            while data := f.read(BLOCK):
                data = rest + data
                cut = data.rfind(b"\n") + 1
                text, rest = data[:cut], data[cut:]
                first = first or data[:4096]
                init = init or b"<init" in text
                opened += len(_OPEN.findall(text))
                closed += text.count(b"</event>")
                last = (last + text)[-256:] if text else last
    except (OSError, EOFError) as exc:
        raise InputError(f"LHE file {path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    opened += len(_OPEN.findall(rest))
    closed += rest.count(b"</event>")
    last = (last + rest)[-256:]
    if b"<LesHouchesEvents" not in first or not (init or b"<init" in rest):
        raise InputError(f"LHE file {path}: not a Les Houches event file (no <LesHouchesEvents> with an "
                         f"<init> block at its start; it begins {first[:40]!r})")
    if opened != closed or b"</LesHouchesEvents>" not in last:
        raise InputError(f"LHE file {path}: truncated after {closed} complete events (an <event> is not closed "
                         "or </LesHouchesEvents> is missing)")
    return closed


def check_lhe(path: str, events: int | None) -> int:
    """The number of events to shower: ``events``, or all of the file's when ``None``; an InputError naming
    the file when it cannot give them (:func:`count_lhe_events`)."""
    available = count_lhe_events(path)
    if available == 0:
        raise InputError(f"LHE file {path}: has no events")
    if events is not None and events > available:
        raise InputError(f"LHE file {path}: has {available} events, {events} asked for (--events)")
    return available if events is None else events


def short_lhe(path: str, first: int, asked: int, got: int) -> InputError:
    """The error of a file job that Pythia could not give all its LHE events."""
    return InputError(f"LHE file {path}: Pythia gave {got} of the {asked} events from event {first} on "
                      "(the file ends early, or events were rejected)")
