"""The plugin API and the engine.

The plugin API: the hook specifications (:mod:`.hookspecs`), the markers
(:mod:`.markers`), column declarations (:mod:`.columns`), options models
(:mod:`.options`), the chunk context (:mod:`.context`), report parts and
workflow steps (:mod:`.report`, :mod:`.steps`), errors (:mod:`.errors`).

The engine: the plugin manager (:mod:`.manager`), hook calls and
declarations (:mod:`.calls`), the validated configuration (:mod:`.config`),
the engine of a run (:mod:`.engine`), per-process caches (:mod:`.cache`), the
coffea processor (:mod:`.processor`) and the stages of a chunk
(:mod:`.stages`) with the core's own accumulators (:mod:`.counters`).

Nothing here imports the layers above (:mod:`jetflow.running`,
:mod:`jetflow.frontends`) or a built-in plugin.
"""
