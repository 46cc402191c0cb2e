"""``python -m jetflow``: the ``jetflow`` command."""

from jetflow.frontends.cli import main

main()
