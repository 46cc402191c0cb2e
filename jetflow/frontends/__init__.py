"""Front ends: the ``jetflow`` command line (:mod:`.cli`), reports (:mod:`.report`), workflows
(:mod:`.workflow`, ``${...}`` values in :mod:`.expressions`, the core's own steps in
:mod:`.workflow_steps`), and the generated hook
reference (:mod:`.hookdoc`)."""
