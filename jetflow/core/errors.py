"""Exceptions raised by jetflow.  Each names the culprit: the file, branch,
plugin, hook, config key or column, the bad value, and what to do about it."""

from __future__ import annotations


class JetflowError(Exception):
    """Base class of every error jetflow raises on purpose."""


class ConfigError(JetflowError, ValueError):
    """A configuration value or key is wrong.  The message gives its dotted path."""


class InputError(JetflowError, ValueError):
    """An input file, tree or branch is missing or malformed.  Names the file."""


class OutputError(JetflowError, ValueError):
    """An output location cannot be written.  Names the path and the reason."""


class StoppedError(JetflowError):
    """A run was stopped (Ctrl-C, SIGTERM).  Says what was kept and how to resume."""


class PluginError(JetflowError):
    """A plugin is malformed (bad hookimpl, clashing options, bad return value)."""


class PluginCallError(JetflowError):
    """A plugin raised, or returned something unusable, while processing a chunk.

    Attributes carry the coordinates so that callers can act on them: ``plugin``,
    ``hook``, ``dataset``, ``filename``, ``entrystart``, ``entrystop``.
    """

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None = None,
        hook: str | None = None,
        dataset: str | None = None,
        filename: str | None = None,
        entrystart: int | None = None,
        entrystop: int | None = None,
    ) -> None:
        self.plugin = plugin
        self.hook = hook
        self.dataset = dataset
        self.filename = filename
        self.entrystart = entrystart
        self.entrystop = entrystop
        where = []
        if plugin is not None:
            where.append(f"plugin {plugin!r}")
        if hook is not None:
            where.append(f"hook {hook}")
        if dataset is not None:
            where.append(f"dataset {dataset!r}")
        if filename is not None:
            where.append(f"file {filename}")
        if entrystart is not None:
            where.append(f"entries [{entrystart}, {entrystop})")
        prefix = ", ".join(where)
        self.detail = message
        super().__init__(f"{prefix}: {message}" if prefix else message)

    def __reduce__(self):  # keep the coordinates across pickling (dask, futures)
        return (
            _rebuild_plugin_call_error,
            (
                self.detail,
                self.plugin,
                self.hook,
                self.dataset,
                self.filename,
                self.entrystart,
                self.entrystop,
            ),
        )


def _rebuild_plugin_call_error(detail, plugin, hook, dataset, filename, start, stop):
    return PluginCallError(
        detail,
        plugin=plugin,
        hook=hook,
        dataset=dataset,
        filename=filename,
        entrystart=start,
        entrystop=stop,
    )


class BadInputError(PluginCallError, InputError):
    """A plugin stopped on bad input (an unreadable chunk, invalid values): both a
    :class:`PluginCallError` (with the coordinates) and an :class:`InputError`."""

    def __reduce__(self):
        return (
            _rebuild_bad_input_error,
            (self.detail, self.plugin, self.hook, self.dataset, self.filename, self.entrystart, self.entrystop),
        )


def _rebuild_bad_input_error(detail, plugin, hook, dataset, filename, start, stop):
    return BadInputError(
        detail, plugin=plugin, hook=hook, dataset=dataset, filename=filename, entrystart=start, entrystop=stop
    )


def input_error(exc: BaseException | None) -> str | None:
    """The reason, if ``exc`` comes from bad input (unreadable data, invalid values), else None.

    Plugin bugs are not input errors: they always stop the run.
    """
    import zlib

    try:
        from uproot.deserialization import DeserializationError
    except ImportError:  # pragma: no cover
        DeserializationError = OSError  # noqa: N806
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (InputError, OSError, DeserializationError, zlib.error, EOFError)):
            return f"{type(exc).__name__}: {exc}"
        exc = exc.__cause__ or exc.__context__
    return None
