"""Statistics tools: weighted ROC curves and their figures of merit (:mod:`.roc`), and mergeable
statistics of per-jet columns (:mod:`.accumulators`).  Plain numpy; nothing here knows the engine."""
