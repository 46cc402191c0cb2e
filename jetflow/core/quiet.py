"""Keeps TensorFlow's start-up logging off jetflow's console, unless asked for.

Importing TensorFlow writes a dozen lines to the process's stderr from C++
(oneDNN notes, CUDA probing on machines without a GPU, absl's "before
InitializeLog" banner), some of them before ``TF_CPP_MIN_LOG_LEVEL`` is read,
in every process that imports it: the client and each worker.  They look
like errors and bury jetflow's own output.  :func:`quiet_libraries`, called
by the ``jetflow`` command in the client and by the inference plugin in each
worker before Keras is imported:

* sets ``TF_CPP_MIN_LOG_LEVEL=3`` in ``os.environ`` unless it is set (child
  processes inherit it);
* installs an import hook for the first ``import tensorflow`` of the process
  (whoever triggers it: Keras, a plugin) that captures what the import writes
  to file descriptor 2 and writes back every line that is not a TensorFlow /
  absl log line (Python warnings stay), or all of it when the import fails;
* sets the Python logger ``tensorflow`` to ERROR when that import happens
  (its warnings are TensorFlow's internal notes).

jetflow's own messages, Python warnings and exceptions are untouched.
``JETFLOW_VERBOSE=1`` (or ``JETFLOW_TRACE=1``, which traces hook calls) in the
environment leaves everything as the libraries made it.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
from contextlib import contextmanager

from jetflow.core.manager import TRACE_ENV

VERBOSE_ENV = "JETFLOW_VERBOSE"
"""Environment variable: when set to a non-empty value other than 0, libraries log as they would without jetflow."""

QUIETED = ("tensorflow",)
"""The top-level modules whose first import is filtered."""

LOG_LINE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] "  # an absl record: I0000 00:00:1796216760.14  28583 port.cc:153]
    rb"|To enable the following instructions: .* rebuild TensorFlow"  # cpu_feature_guard's second line
)
"""A line of TensorFlow's C++ logging (matched at the start of the line); a fatal record (``F0000 ...``) is kept."""


def _flag(name: str) -> bool:
    return os.environ.get(name, "") not in ("", "0")


def verbose() -> bool:
    """Whether ``JETFLOW_VERBOSE`` or ``JETFLOW_TRACE`` asks for the libraries' own logging."""
    return _flag(VERBOSE_ENV) or _flag(TRACE_ENV)


def quiet_libraries() -> None:
    """Keep TensorFlow's logging off the console of this process and of the processes it starts.

    Does nothing when :func:`verbose` or once TensorFlow is imported (its
    start-up has been written); calling it again is free.
    """
    if verbose() or all(name in sys.modules for name in QUIETED):
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if not any(isinstance(f, _FirstImportFilter) for f in sys.meta_path):
        sys.meta_path.insert(0, _FirstImportFilter())


@contextmanager
def stderr_without_log_lines():
    """Capture file descriptor 2 (C++ writes it directly); on leaving, write back what is not :data:`LOG_LINE`.

    Everything captured is written back when the block raises.  Other threads'
    writes to stderr meanwhile come out at the end of the block.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no stderr to filter
        yield
        return
    try:
        capture = tempfile.TemporaryFile()
    except OSError:  # nowhere to capture it: unfiltered
        os.close(saved)
        yield
        return
    failed = True
    with capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
            failed = False
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):
                pass
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().splitlines(keepends=True)
            kept = lines if failed else [line for line in lines if not LOG_LINE.match(line)]
            if kept:
                os.write(2, b"".join(kept))


class _FirstImportFilter(importlib.abc.MetaPathFinder):
    """Finds a :data:`QUIETED` module through the other finders and runs its import inside
    :func:`stderr_without_log_lines`."""

    def __init__(self) -> None:
        self.searching = False

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in QUIETED or fullname in sys.modules or self.searching or verbose():
            return None  # sys.modules has it: a reload
        self.searching = True
        try:
            spec = importlib.util.find_spec(fullname)  # the finders after this one
        finally:
            self.searching = False
        if spec is None or spec.loader is None:
            return None
        spec.loader = _FilteredLoader(spec.loader)
        return spec


class _FilteredLoader(importlib.abc.Loader):
    """The module's own loader, run with its stderr filtered; the module keeps its own loader."""

    def __init__(self, loader) -> None:
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        with stderr_without_log_lines():
            self.loader.exec_module(module)
        logger = logging.getLogger(module.__name__)
        if logger.level == logging.NOTSET:  # one the user set stays
            logger.setLevel(logging.ERROR)
