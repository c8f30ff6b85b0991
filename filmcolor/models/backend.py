"""Keras, imported on first use and quietly (TensorFlow, JAX or PyTorch underneath)."""

import logging
import os
import sys
import threading
import time

from ..capture import c_stderr
from ..errors import BackendError

log = logging.getLogger("filmcolor")

# A Dask worker runs several tasks in one process: without the lock a second thread finds
# "keras" in sys.modules half imported ("partially initialized module 'keras'").
_IMPORT_LOCK = threading.Lock()
_keras = None  # the module, once fully imported


def quiet_stderr():
    """TensorFlow 2.21 writes C++ start-up chatter straight to fd 2, whatever
    TF_CPP_MIN_LOG_LEVEL says; silence it while Keras imports and loads. fd 2 is one per
    process, so this is capture.c_stderr (one process-wide lock; filmcolor's own lines
    written meanwhile by other threads are passed on) with the captured text dropped."""
    if os.environ.get("FILMCOLOR_DEBUG") == "1":
        import contextlib

        return contextlib.nullcontext()
    return c_stderr()


def import_keras():
    """Keras, imported on first use so `filmcolor --help` and the I/O stay fast; once per
    process, whichever thread asks first (the others wait for it)."""
    global _keras
    if _keras is not None:
        return _keras
    with _IMPORT_LOCK:
        if _keras is None:
            _keras = _import()
    return _keras


def _import():
    t0 = time.perf_counter()
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    try:
        with quiet_stderr():
            import keras
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
