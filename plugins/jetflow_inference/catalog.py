"""The models jetflow builds and trains, and what each reads: one home for their names.

Kept apart from :mod:`jetflow_inference.models` so that the command line can
list them without importing Keras.
"""

MODEL_INPUTS = {"convnet": "image", "maxout": "image", "lbn": "constituents", "fisher": "image", "dcnn": "image", "pixelcal": "image",
                "efn": "constituents", "pfn": "constituents", "particlenet": "constituents",
                "forest": "features", "boosting": "features", "mlp": "features"}
"""Model name -> the export column (and inference input) it reads: ``image``, ``constituents``, or the
jet ``features`` alone."""

SCIKIT_LEARN = ("forest", "boosting", "mlp")
"""The scikit-learn models on jet features (random forest, histogram gradient boosting, MLP), saved as ONNX."""

REGRESSORS = ("convnet", "maxout", "lbn", "dcnn", "pixelcal", "efn", "pfn", "particlenet", *SCIKIT_LEARN)
"""The models that can also regress a continuous target (a linear output instead of the score)."""


def model_suffix(name: str) -> str:
    """The file a trained model is saved as: ``.onnx`` for the scikit-learn models, ``.keras`` for the networks."""
    return ".onnx" if name in SCIKIT_LEARN else ".keras"
