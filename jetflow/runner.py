"""Running the processor over a fileset: ``jetflow.run``, ``jetflow.save``, ``jetflow.load``."""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetflow.config import Config, load_config
from jetflow.errors import ConfigError, InputError, JetflowError, PluginCallError

EXECUTORS = ("iterative", "futures", "dask")


@dataclass
class Result:
    """What a run produces and ``jetflow.load`` gives back.

    Attributes
    ----------
    output : dict
        ``{dataset: {name: accumulator}}``: ``events`` (EventCount),
        ``cutflow`` (Cutflow) and whatever the ``jetflow_accumulate`` hooks add
        (``hists``, ``roc``, ...).
    config : dict
        The full configuration of the run, defaults filled in.
    meta : dict
        Executor, workers, chunksize, versions, wall time, host.
    """

    output: dict[str, dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        return sorted(self.output)

    def __getitem__(self, dataset: str) -> dict[str, Any]:
        try:
            return self.output[dataset]
        except KeyError:
            raise KeyError(f"no dataset {dataset!r} in this result (have: {', '.join(self.datasets)})") from None

    def combined(self, name: str) -> Any:
        """An accumulator merged over every dataset that has it (dicts merged key by key).

        This is how signal and background datasets meet: ``result.combined("roc")``.
        """
        from coffea.processor import accumulate

        items = [out[name] for out in self.output.values() if name in out]
        if not items:
            raise KeyError(f"no accumulator {name!r} in any dataset")
        return accumulate(items)

    def summary(self) -> str:
        lines = [f"jetflow result: {len(self.output)} dataset(s)"]
        for ds in self.datasets:
            out = self.output[ds]
            ev = out.get("events")
            lines.append(f"\n[{ds}] events: {getattr(ev, 'events', '?')}, chunks: {getattr(ev, 'chunks', '?')}")
            if "cutflow" in out:
                lines.append(str(out["cutflow"]))
            others = sorted(k for k in out if k not in {"events", "cutflow", "skipped"})
            if others:
                lines.append("accumulators: " + ", ".join(others))
        skipped = self.meta.get("skipped") or []
        if skipped:
            lines.append(f"\nskipped ({len(skipped)}), nothing else was left out:")
            for filename, start, stop, reason in skipped:
                where = "whole file" if stop < 0 else f"entries [{start}, {stop})"
                lines.append(f"  {filename}, {where}: {reason}")
        return "\n".join(lines)


def save(result: Result, path: str | os.PathLike) -> Path:
    """Write a result to ``path`` (lz4-compressed cloudpickle, like ``coffea.util.save``).

    The file is written under a temporary name and renamed, so an interrupted
    save never leaves a file that looks complete.
    """
    from coffea.util import save as coffea_save

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    coffea_save(result, str(tmp))
    os.replace(tmp, path)
    return path


def load(path: str | os.PathLike) -> Result:
    """Load a result saved by ``jetflow run`` / :func:`save`.

    Only open results you trust: like every pickle-based format, loading runs
    code stored in the file.
    """
    from coffea.util import load as coffea_load

    path = Path(path)
    if not path.is_file():
        raise InputError(f"result file {path} does not exist")
    try:
        obj = coffea_load(str(path))
    except Exception as exc:
        raise InputError(f"result file {path} cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, Result):
        raise InputError(f"file {path} is not a jetflow result (it holds a {type(obj).__name__})")
    return obj


def check_file(filename: str, tree: str) -> int:
    """Entries in ``tree`` of a file; raises :class:`InputError` naming the file and what is wrong."""
    import uproot

    if "://" not in filename and not Path(filename).is_file():
        raise InputError(f"file {filename} does not exist")
    try:
        with uproot.open(filename) as f:
            if tree not in f:
                raise InputError(f"file {filename}: no tree {tree!r} (it has: {', '.join(f.keys(cycle=False)) or 'nothing'})")
            return int(f[tree].num_entries)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"file {filename}: cannot be read as ROOT ({type(exc).__name__}: {exc})") from exc


def build_fileset(cfg: Config, skipped: list | None = None) -> dict[str, dict[str, Any]]:
    """The coffea fileset of a configuration: ``{dataset: {files: {path: tree}, metadata}}``.

    Every file is opened once first.  An unreadable file stops the run with an
    error naming it, or, with ``run.skip_bad_files``, is appended to
    ``skipped`` as ``(file, 0, -1, reason)`` and left out.
    """
    fileset = {}
    for name, ds in cfg.datasets.items():
        files = {}
        for f in cfg.files(name):
            try:
                check_file(f, ds.tree)
            except InputError as exc:
                if not cfg.run.skip_bad_files or skipped is None:
                    raise
                skipped.append((f, 0, -1, str(exc)))
                continue
            files[f] = ds.tree
        if not files:
            raise InputError(f"dataset {name!r}: no readable file left (see the skipped files)")
        fileset[name] = {"files": files, "metadata": {"label": cfg.label(name), "xsec": ds.xsec, **ds.metadata}}
    return fileset


def resolve_schema(cfg: Config, fileset: dict[str, dict[str, Any]]):
    """The NanoEvents schema class for the run (detected from each dataset's first file if ``auto``)."""
    from jetflow.schema import SCHEMAS, detect_schema

    name = cfg.run.schema_
    if name != "auto":
        return SCHEMAS[name]
    found = {}
    for ds, entry in fileset.items():
        first, tree = next(iter(entry["files"].items()))
        found[ds] = detect_schema(first, tree)
    kinds = set(found.values())
    if len(kinds) > 1:
        raise ConfigError(
            "run.schema: datasets are in different formats ("
            + ", ".join(f"{ds}: {k}" for ds, k in found.items())
            + "); run them separately or set run.schema"
        )
    return SCHEMAS[kinds.pop()]


class _ResourceClient:
    """A ``distributed.Client`` stand-in that asks for worker resources for chunk processing.

    coffea's ``DaskExecutor`` maps the processing function and its reducers
    through ``client.map``; the reducers (merging outputs) run anywhere, the
    processing goes to workers that have ``resources`` (GPU workers).
    """

    def __init__(self, client: Any, resources: dict[str, float]) -> None:
        self._client = client
        self._resources = resources

    def map(self, func, *iterables, **kwargs):
        from coffea.processor.executor import _reduce

        if not isinstance(func, _reduce):
            kwargs.setdefault("resources", self._resources)
        return self._client.map(func, *iterables, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def gpu_resources(client: Any, name: str = "GPU") -> dict[str, float] | None:
    """``{name: 1}`` if some worker of the cluster declares that resource, else None."""
    workers = client.scheduler_info().get("workers", {})
    if any(w.get("resources", {}).get(name, 0) >= 1 for w in workers.values()):
        return {name: 1}
    return None


@contextlib.contextmanager
def make_executor(
    kind: str, workers: int, scheduler: str | None, progress: bool, client: Any = None, gpu_work: bool = False
) -> Iterator[Any]:
    """A coffea executor; for dask, a client to ``scheduler`` or a fresh LocalCluster (closed on exit).

    With ``gpu_work`` (models configured) and a dask cluster some of whose
    workers declare the resource ``GPU``, chunks are processed on those workers.
    """
    from coffea import processor

    if not progress:
        # coffea draws its (rich) bars even when status=False; silence its console instead
        from coffea.util import coffea_console as console

        quiet, console.quiet = console.quiet, True
        try:
            with make_executor(kind, workers, scheduler, True, client, gpu_work) as ex:
                ex.status = False
                yield ex
        finally:
            console.quiet = quiet
        return
    if kind == "iterative":
        # a failing chunk fails the same way again: no retries in one process
        yield processor.IterativeExecutor(status=progress, retries=0)
    elif kind == "futures":
        import warnings

        with warnings.catch_warnings():
            # loky (coffea's process pool) restarts a worker whose memory grew by 300 MB, which
            # loading TensorFlow does once; it says so with a "memory leak" warning.  Harmless.
            warnings.filterwarnings("ignore", message="A worker was restarted", category=UserWarning)
            yield processor.FuturesExecutor(workers=workers, status=progress)
    elif kind == "dask":

        def executor(c):
            resources = gpu_resources(c) if gpu_work else None
            return processor.DaskExecutor(client=_ResourceClient(c, resources) if resources else c, status=progress)

        if client is not None:
            yield executor(client)
            return
        from distributed import Client, LocalCluster

        if scheduler:
            with Client(scheduler) as c:
                yield executor(c)
        else:
            with LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster, Client(cluster) as c:
                yield executor(c)
    else:
        raise ConfigError(f"run.executor: must be one of {', '.join(EXECUTORS)}, got {kind!r}")


def generator_weight_sums(items) -> dict[str, float]:
    """Sum of ``genWeight`` over exactly the entries that will be processed, per dataset.

    Reads only that branch (the event count where a file has no ``genWeight``).
    The weights plugin divides by it, so that ``maxchunks`` keeps the
    normalisation right.
    """
    import uproot

    by_file: dict[tuple[str, str], list] = {}
    for item in items:
        by_file.setdefault((item.filename, item.treename), []).append(item)
    out: dict[str, float] = {}
    for (filename, treename), chunks in by_file.items():
        try:
            with uproot.open(filename) as f:
                tree = f[treename]
                weights = tree["genWeight"].array(library="np") if "genWeight" in tree else None
        except Exception as exc:
            raise InputError(f"file {filename}, branch genWeight: cannot be read ({type(exc).__name__}: {exc})") from exc
        for item in chunks:
            n = item.entrystop - item.entrystart
            w = float(weights[item.entrystart : item.entrystop].astype("f8").sum()) if weights is not None else float(n)
            out[item.dataset] = out.get(item.dataset, 0.0) + w
    return out


def _find_jetflow_error(exc: BaseException) -> JetflowError | None:
    """The JetflowError inside coffea's wrapping, if the chain still has it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, JetflowError):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def run(
    config: Config | dict[str, Any] | str | os.PathLike,
    *,
    executor: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    chunksize: int | None = None,
    maxchunks: int | None = None,
    out: str | os.PathLike | None = None,
    plugins: Iterable[Any] = (),
    disable: Iterable[str] = (),
    progress: bool | None = None,
    skip_bad_files: bool | None = None,
    client: Any = None,
) -> Result:
    """Run the jetflow processor over the configured datasets.

    Parameters
    ----------
    config
        YAML path, dict or :class:`Config`.
    executor, workers, scheduler, chunksize, maxchunks, progress, skip_bad_files
        Override the config's ``run`` section.  With ``skip_bad_files``,
        unreadable files and chunks with bad input are left out and listed in
        every affected dataset's ``skipped`` accumulator and in ``meta``.  ``executor="dask"`` with no
        ``scheduler`` starts a ``distributed.LocalCluster`` of ``workers``
        single-threaded processes and closes it at the end.
    out
        Save the result there (see :func:`load`).
    plugins, disable
        Extra plugins and blocked plugin names.
    client
        An existing ``distributed.Client`` to run on (dask executor).

    Returns
    -------
    Result
    """
    from coffea import processor

    from jetflow import __version__
    from jetflow.processor import JetflowProcessor

    cfg = load_config(config, plugins=tuple(plugins), disable=tuple(disable))
    overrides = {
        k: v
        for k, v in {
            "executor": executor,
            "workers": workers,
            "scheduler": scheduler,
            "chunksize": chunksize,
            "maxchunks": maxchunks,
            "progress": progress,
            "skip_bad_files": skip_bad_files,
        }.items()
        if v is not None
    }
    if client is not None:
        overrides["executor"] = "dask"
    if overrides:
        from pydantic import ValidationError

        from jetflow.config import RunConfig, _format_validation_error

        try:
            cfg.run = RunConfig.model_validate({**cfg.run.model_dump(by_alias=True), **overrides})
            # the workers rebuild the config from its raw form: it carries the overrides too
            cfg.raw = {**cfg.raw, "run": {**(cfg.raw.get("run") or {}), **overrides}}
        except ValidationError as exc:
            raise ConfigError("invalid run options:\n  " + "\n  ".join(_format_validation_error(exc, "run", RunConfig))) from None
    skipped_files: list = []
    fileset = build_fileset(cfg, skipped_files)
    schema = resolve_schema(cfg, fileset)
    proc = JetflowProcessor(cfg)
    r = cfg.run
    start = time.time()
    gpu_work = cfg.has_section("models") and bool(cfg.section("models").models)
    with make_executor(r.executor, r.workers, r.scheduler, r.progress, client, gpu_work) as ex:
        runner = processor.Runner(
            executor=ex, schema=schema, chunksize=r.chunksize, maxchunks=r.maxchunks
        )
        try:
            items = [i for i in runner.preprocess(fileset) if i.entrystop > i.entrystart]
            empty = sorted(set(fileset) - {i.dataset for i in items})
            if empty:
                raise InputError(
                    f"dataset(s) {', '.join(map(repr, empty))} have no events in their files "
                    f"({', '.join(f for d in empty for f in fileset[d]['files'])})"
                )
            sumw = generator_weight_sums(items)
            for item in items:  # every chunk knows its dataset's normalisation
                item.usermeta["sumw_gen"] = sumw[item.dataset]
            wrapped = runner.run(items, processor_instance=proc)
            if wrapped.get("exception", 0) not in (0, None):
                raise wrapped["exception"]
            output = wrapped["out"]
        except JetflowError:
            raise
        except Exception as exc:
            inner = _find_jetflow_error(exc)
            if inner is not None:
                raise inner from exc
            # coffea wraps worker exceptions; with dask the chain may be cut, but
            # the message still carries ours
            if "PluginCallError" in str(exc) or "InputError" in str(exc):
                raise PluginCallError(str(exc)) from exc
            raise
    meta = {
        "executor": r.executor,
        "workers": r.workers if r.executor != "iterative" else 1,
        "scheduler": r.scheduler,
        "chunksize": r.chunksize,
        "maxchunks": r.maxchunks,
        "schema": schema.__name__,
        "sumw_gen": sumw,
        "jetflow": __version__,
        "wall_s": time.time() - start,
        "host": platform.node(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    output = dict(output)
    skipped = [list(r) for r in skipped_files]
    for acc in output.values():
        if "skipped" in acc:
            skipped += [list(r) for r in acc["skipped"].records]
    meta["skipped"] = skipped
    result = Result(output=output, config=cfg.to_dict(), meta=meta)
    if out is not None:
        save(result, out)
    return result
