"""The Dask side of a batch: the client, joblib's dask backend, and a watch over the cluster.

joblib's dask backend waits for ever once the cluster can no longer give it a result: when
the last worker is gone (`dask worker --no-nanny` killed, machines switched off), when the
scheduler is lost, or when a task failed on the scheduler's side (its workers died running
it `distributed.scheduler.allowed-failures` times: KilledWorker, which the backend never
hands on). The watch polls the scheduler and stops the run with one line instead; what is
finished stays finished, and a rerun resumes. A worker killed while another is alive needs
none of this: Dask runs its task again elsewhere (or on the worker its nanny restarts).
"""

import logging
import threading
import time

from ..errors import ClusterError, UsageError

log = logging.getLogger("filmcolor")

POLL_SECONDS = 1.0
RESUME = "finished items and segments are kept; rerun the same command to resume"


def dask_backend(opts):
    """joblib's backend on the Dask cluster at opts.scheduler, as a context manager that
    yields the ClusterWatch to start once the run's Parallel exists. Each task asks for
    `gpus_per_job` of the workers' "GPU" resource (start GPU workers with `dask worker
    ADDRESS --resources GPU=1`)."""
    try:
        from dask.distributed import Client
    except ImportError as ex:
        raise UsageError("--scheduler needs dask.distributed: pip install "
                         "'filmcolor[dask]'") from ex
    from joblib import parallel_config

    try:
        client = Client(opts.scheduler, timeout=opts.scheduler_timeout)
    except (OSError, TimeoutError) as ex:
        raise UsageError(f"{opts.scheduler}: cannot reach the Dask scheduler ({ex})") from ex
    try:
        _wait_for_workers(client, opts)
    except BaseException:
        client.close()
        raise
    submit = {"resources": {"GPU": opts.gpus_per_job}} if opts.gpus_per_job else {}
    _register()
    return _Backend(client, parallel_config(backend=BACKEND, client=client, **submit),
                    ClusterWatch(client, opts.scheduler, opts.worker_timeout))


BACKEND = "filmcolor-dask"


def _register():
    """joblib's dask backend, except that a cluster of one task thread still runs the
    tasks: joblib runs a Parallel of one job in the calling process, so `dask worker
    --nthreads 1` alone would leave the colorizing to the machine running the batch (not
    the GPU box, and without its `--resources`)."""
    from joblib import register_parallel_backend
    from joblib._dask import DaskDistributedBackend

    class AtLeastTwo(DaskDistributedBackend):
        def effective_n_jobs(self, n_jobs):
            return max(2, super().effective_n_jobs(n_jobs))

    register_parallel_backend(BACKEND, AtLeastTwo)


def _wait_for_workers(client, opts):
    """Block until the scheduler has a worker (ClusterError after opts.worker_timeout)."""
    try:
        client.wait_for_workers(1, timeout=opts.worker_timeout)
    except TimeoutError:
        raise ClusterError(f"{opts.scheduler}: no Dask worker joined in "
                           f"{opts.worker_timeout:g} s (start one: dask worker "
                           f"{opts.scheduler})") from None
    except OSError as ex:
        raise ClusterError(f"{opts.scheduler}: lost the Dask scheduler ({ex})") from None


class _Backend:
    """The dask parallel_config, with distributed's own log lines kept off the terminal
    (the batch says what happened in one line of its own); closes its Client afterwards."""

    def __init__(self, client, config, watch):
        self.client, self.config, self.watch = client, config, watch
        self.handlers = logging.getLogger("distributed").handlers

    def __enter__(self):
        for h in self.handlers:
            h.addFilter(_drop)
        self.config.__enter__()
        return self.watch

    def __exit__(self, *exc):
        try:
            self.watch.stop()
            return self.config.__exit__(*exc)
        finally:
            self.client.close()
            for h in self.handlers:
                h.removeFilter(_drop)


def _drop(record):
    return False


class ClusterWatch:
    """A thread asking the scheduler every POLL_SECONDS whether the run can still finish;
    when it cannot, it records why (`reason`) and ends the run's Parallel through
    joblib's own abort (the path a failed task takes), so its results loop returns."""

    def __init__(self, client, address, grace):
        self.client, self.address, self.grace = client, address, grace
        self.reason = None
        self._stop = threading.Event()
        self._thread = None

    def start(self, parallel):
        self._thread = threading.Thread(target=self._watch, args=(parallel,),
                                        name="filmcolor-cluster-watch", daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def check(self):
        """Raise ClusterError if the watch stopped the run."""
        if self.reason is not None:
            raise ClusterError(self.reason)

    def lost(self, ex):
        """The ClusterError for joblib's CancelledError: the client lost the scheduler."""
        reason = getattr(ex, "reason", None) or type(ex).__name__
        return ClusterError(f"{self.address}: lost the Dask scheduler ({reason}); the batch "
                            f"stopped: {RESUME}")

    def _watch(self, parallel):
        alone_since = None  # when the scheduler was last seen with no worker (or not seen)
        while not self._stop.wait(POLL_SECONDS):
            reason = self._failed_task()
            if reason is None:
                workers = self._workers()
                if workers:
                    alone_since = None
                    continue
                alone_since = alone_since or time.monotonic()
                if time.monotonic() - alone_since < self.grace:
                    continue
                reason = (f"{self.address}: no Dask worker for {self.grace:g} s"
                          if workers is not None else
                          f"{self.address}: lost the Dask scheduler for {self.grace:g} s")
            self.reason = f"{reason}; the batch stopped: {RESUME}"
            log.debug("cluster watch: %s", self.reason)
            parallel._abort()  # noqa: SLF001 - joblib has no public way to end a Parallel
            return

    def _workers(self):
        """The scheduler's workers' thread counts, or None if it cannot be asked."""
        if self.client.status != "running":
            return None
        try:
            return self.client.nthreads()
        except Exception:  # noqa: BLE001 - any failure to ask counts as not reachable
            return None

    def _failed_task(self):
        """Why a task of ours failed on the scheduler's side (KilledWorker), or None."""
        for state in list(getattr(self.client, "futures", {}).values()):
            if getattr(state, "status", None) == "error":
                return (f"{self.address}: Dask workers kept dying while running one task "
                        f"({type(state.exception).__name__}; see the workers' logs: killed "
                        "for memory?)")
        return None
