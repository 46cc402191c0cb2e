"""Data formats: jetflow's particle-level ROOT files and the CMS NanoAOD schemas (:mod:`.schema`),
and the Parquet training export (:mod:`.export`)."""
