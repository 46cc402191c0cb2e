"""Running and results: the fileset and schema of a run (:mod:`.fileset`), coffea executors
(:mod:`.executors`), ``jetflow.run`` (:mod:`.run`), and the :class:`Result` with
``jetflow.save`` / ``jetflow.load`` (:mod:`.results`)."""
