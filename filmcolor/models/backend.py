"""Keras, imported on first use and quietly (TensorFlow, JAX or PyTorch underneath)."""

import contextlib
import logging
import os
import sys
import time

from ..errors import BackendError

log = logging.getLogger("filmcolor")


@contextlib.contextmanager
def quiet_stderr():
    """TensorFlow 2.21 writes C++ start-up chatter straight to fd 2, whatever
    TF_CPP_MIN_LOG_LEVEL says; silence it while Keras imports and loads."""
    if os.environ.get("FILMCOLOR_DEBUG") == "1":
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_keras():
    """Keras, imported on first use so `filmcolor --help` and the I/O stay fast."""
    if "keras" not in sys.modules:
        t0 = time.perf_counter()
        backend = os.environ.get("KERAS_BACKEND", "tensorflow")
        try:
            with quiet_stderr():
                import keras  # noqa: F401
        except ImportError as ex:
            extra = {"jax": "filmcolor[jax]", "torch": "filmcolor[torch]"}.get(backend)
            hint = f"pip install '{extra}'" if extra else f"install {backend}"
            raise BackendError(f"KERAS_BACKEND={backend}: cannot import Keras on it "
                               f"({ex.name or ex}): {hint}") from ex
        # tf.function retracing notes are for TF developers, not for people colorizing
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        log.debug("start-up: Keras on %s imported in %.1f s", keras.backend.backend(),
                  time.perf_counter() - t0)
    return sys.modules["keras"]
