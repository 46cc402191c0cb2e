"""The networks jetflow builds and trains, and what each reads: one home for their names.

Kept apart from :mod:`jetflow_inference.models` so that the command line can
list them without importing Keras.
"""

MODEL_INPUTS = {"convnet": "image", "maxout": "image", "lbn": "constituents", "fisher": "image", "dcnn": "image"}
"""Model name -> the export column (and inference input) it reads: ``image`` or ``constituents``."""

REGRESSORS = ("convnet", "maxout", "lbn", "dcnn")
"""The models that can also regress a continuous target (a linear output instead of the score)."""
