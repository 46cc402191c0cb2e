"""The scikit-learn models on jet features ([jet-response]'s comparison), fitted and saved as ONNX.

``forest`` is a random forest, ``boosting`` gradient-boosted trees, ``mlp`` a
multilayer perceptron (standardised inputs; [jet-response]'s four layers of
200 ReLU units).  Each is fitted with the export's weights and converted with
skl2onnx, so the inference plugin scores it with ONNX Runtime like any ONNX
model (no pickle is ever loaded).  Regressors output the target, classifiers
the signal probability.  (Histogram gradient boosting is not offered: skl2onnx
1.20 cannot convert scikit-learn 1.9's.)

References in brackets: docs/references.md.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULTS: dict[str, dict[str, Any]] = {
    "forest": {"n_estimators": 100, "max_depth": 20, "min_samples_leaf": 5},
    "boosting": {"n_estimators": 300, "max_depth": 3, "learning_rate": 0.05, "subsample": 0.8},
    "mlp": {"hidden_layer_sizes": (200, 200, 200, 200), "early_stopping": True, "max_iter": 500},
}
"""Each model's scikit-learn arguments unless ``model_args`` overrides them."""


def estimator(name: str, regression: bool, seed: int, model_args: dict[str, Any] | None = None):
    """An unfitted scikit-learn estimator (a pipeline for the MLP) for model ``name``."""
    from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier,
                                  RandomForestRegressor)
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    args = {**DEFAULTS[name], **(model_args or {}), "random_state": seed}
    if "hidden_layer_sizes" in args:
        args["hidden_layer_sizes"] = tuple(args["hidden_layer_sizes"])
    if name == "forest":
        return (RandomForestRegressor if regression else RandomForestClassifier)(n_jobs=-1, **args)
    if name == "boosting":
        return (GradientBoostingRegressor if regression else GradientBoostingClassifier)(**args)
    return make_pipeline(StandardScaler(), (MLPRegressor if regression else MLPClassifier)(**args))


def fit(model, x: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Fit with per-jet weights (a pipeline passes them to its last step).

    The MLP regressor learns the standardised target (its initialisation and
    learning rate expect values of order one), then its linear output layer is
    rescaled to the target's units: the fitted model predicts in GeV and
    converts to ONNX as it is.
    """
    if not hasattr(model, "steps"):
        return model.fit(x, y, sample_weight=w)
    name, last = model.steps[-1]
    regression = not hasattr(last, "predict_proba")
    mean, std = (float(np.average(y, weights=w)), float(np.std(y)) or 1.0) if regression else (0.0, 1.0)
    model.fit(x, (y - mean) / std if regression else y, **{f"{name}__sample_weight": w})
    if regression:
        last.coefs_[-1] = last.coefs_[-1] * std
        last.intercepts_[-1] = last.intercepts_[-1] * std + mean
    return model


def to_onnx(model, n_features: int) -> bytes:
    """The fitted model as an ONNX graph: one float32 input ``features`` ``[n, n_features]``; a classifier's
    probabilities as a plain ``[n, 2]`` tensor (no ZipMap)."""
    from skl2onnx import to_onnx as convert
    from skl2onnx.common.data_types import FloatTensorType

    options = {"zipmap": False} if hasattr(model, "predict_proba") else None
    onx = convert(model, initial_types=[("features", FloatTensorType([None, n_features]))], options=options,
                  target_opset={"": 17, "ai.onnx.ml": 3})
    return onx.SerializeToString()


def fit_scikit_learn(request):
    """The fit of the scikit-learn model kinds (:class:`jetflow_inference.fitting.FitRequest` -> ``Fitted``):
    fitted on the jet features, saved as ONNX; the validation predictions come from ONNX Runtime (what a run
    sees)."""
    import onnxruntime
    import skl2onnx
    import sklearn

    from jetflow.core.atomic import write_bytes

    from jetflow_inference.fitting import Fitted
    from jetflow_inference.runtimes import OnnxModel

    s, name, classes = request.settings, request.kind.name, request.classes
    x_train = request.train_inputs[0]
    model = fit(estimator(name, s.target is not None, s.seed, s.model_args), x_train, request.yt, request.wt)
    write_bytes(request.out, to_onnx(model, x_train.shape[1]), "model")
    predictions = OnnxModel(name, request.out, "cpu")(request.val_inputs[0], 4096, len(classes) if classes else None)
    versions = {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__,
                "onnxruntime": onnxruntime.__version__}
    return Fitted({**DEFAULTS[name], **s.model_args}, [{"loss": []}], predictions, "scikit-learn", versions)
