"""Per-process caches: the one place where state outlives a chunk.

A worker process (a futures process, a dask worker) processes many chunks;
what is costly to build is built once per process and kept here: the engine
of a run (plugin manager, validated config, declared columns), the hook
callers that reach one plugin at a time, and whatever a plugin keeps between
chunks (loaded models, warnings already given).  Nothing
else in jetflow or its built-in plugins keeps state in module globals.

A plugin reaches its own namespace as ``ctx.cache`` inside a hook (the
namespace is named after the plugin), or as ``plugin_cache(name)`` from a plain
function called outside the engine.  Entries live as long as the process;
:func:`clear` empties every namespace (tests use it to act as a fresh worker).
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class PluginCache:
    """A thread-safe per-process store: :meth:`get` builds a value once per key.

    Attributes
    ----------
    created : collections.Counter
        How many times each key was built in this process (tests count loads with it).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._values: dict[Hashable, Any] = {}
        self._lock = threading.RLock()
        self.created: Counter = Counter()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value of ``key``, built with ``build()`` the first time it is asked for."""
        try:
            return self._values[key]
        except KeyError:
            pass
        with self._lock:
            if key not in self._values:
                self._values[key] = build()
                self.created[key] += 1
            return self._values[key]

    def once(self, key: Hashable) -> bool:
        """True the first time ``key`` is given in this process, then False (warn-once and the like)."""
        with self._lock:
            if key in self._values:
                return False
            self._values[key] = True
            self.created[key] += 1
            return True

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self.created.clear()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._values

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PluginCache({self.name!r}, {len(self._values)} entries)"


_NAMESPACES: dict[str, PluginCache] = {}
_NAMESPACES_LOCK = threading.Lock()

ENGINES = "jetflow.engines"
"""The namespace where the processor keeps the engine of each run (key: the run's fingerprint)."""


def plugin_cache(name: str) -> PluginCache:
    """The per-process cache of namespace ``name`` (a plugin's name, or :data:`ENGINES`)."""
    cache = _NAMESPACES.get(name)
    if cache is None:
        with _NAMESPACES_LOCK:
            cache = _NAMESPACES.setdefault(name, PluginCache(name))
    return cache


def clear() -> None:
    """Empty every namespace of this process."""
    for cache in list(_NAMESPACES.values()):
        cache.clear()


_HOOK_CALLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def hook_callers(pm: Any) -> dict[tuple[str, str], Any]:
    """``{(hook, plugin): caller}`` of a plugin manager, kept as long as the manager lives."""
    with _NAMESPACES_LOCK:
        callers = _HOOK_CALLERS.get(pm)
        if callers is None:
            callers = _HOOK_CALLERS[pm] = {}
    return callers
