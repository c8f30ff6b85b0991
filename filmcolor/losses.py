"""Regression losses on the sigmoid ab code, each the training form of an evaluation metric.

- "mse": the mean squared code error (the paper's loss; its optimum is the conditional mean).
- "ab-distance": the mean Euclidean ab distance per pixel. AuC over thresholds 0..T is
  1 - mean(min(d, T)) / T for per-pixel ab distance d, so this is AuC's own measure; its
  optimum is the geometric median, less pulled toward gray by rare colours than the mean.
- "log-mse": log of each crop's MSE, averaged over crops. Mean per-image PSNR is a mean of
  -log MSE, which weighs an error on a nearly gray picture far above the same error on a
  colourful one; plain MSE weighs them alike and so paints gray pictures.
"""

from .models import import_keras

keras = import_keras()
ops = keras.ops

REGRESSION_LOSSES = ("mse", "ab-distance", "log-mse")
# log-mse floor, in code units squared: ~1.4 ab units rms. Below it a crop counts as right,
# so the few exactly-gray crops do not take over the gradient.
LOG_MSE_FLOOR = 3e-5


@keras.saving.register_keras_serializable(package="filmcolor")
def ab_distance(y_true, y_pred):
    """Per-pixel Euclidean distance of the ab code (eps keeps the gradient finite at 0)."""
    return ops.sqrt(ops.sum(ops.square(y_true - y_pred), axis=-1) + 1e-8)


@keras.saving.register_keras_serializable(package="filmcolor")
def log_mse(y_true, y_pred):
    """Per-crop log MSE of the ab code."""
    mse = ops.mean(ops.square(y_true - y_pred), axis=(1, 2, 3))
    return ops.log(mse + LOG_MSE_FLOOR)


def regression_loss(name):
    """The Keras loss for a name in REGRESSION_LOSSES."""
    if name == "mse":
        return "mse"
    if name == "ab-distance":
        return ab_distance
    if name == "log-mse":
        return log_mse
    raise ValueError(f"unknown loss {name!r} ({', '.join(REGRESSION_LOSSES)}, classify)")
