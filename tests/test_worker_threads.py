"""What one worker process shares between task threads (a Dask worker runs `--nthreads`
tasks at once): Keras imported once, fd 2 swapped under one lock with our lines passed on,
one model per file, a batch size halved by one task's out-of-memory kept to that task, each
task's warnings its own, folder checks that do not trip over each other, and a model that
cannot load here failing its tasks, not the batch."""

import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
import zipfile

import numpy as np
import pytest

from filmcolor import errors
from filmcolor.batch import tasks
from filmcolor.batch.plan import BatchOptions, Item
from filmcolor.batch.tasks import Task, collect_warnings, run_task
from filmcolor.models import check_weights, quiet_stderr
from filmcolor.paths import check_writable
from filmcolor.threads import helper_thread

log = logging.getLogger("filmcolor")


def together(n, fn):
    """Run fn(i) on n threads released at once; returns their results (raises the first
    exception)."""
    barrier = threading.Barrier(n)
    results, failures = [None] * n, []

    def run(i):
        barrier.wait()
        try:
            results[i] = fn(i)
        except BaseException as ex:  # noqa: BLE001 - handed to the test
            failures.append(ex)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return results


@pytest.mark.slow
def test_two_threads_importing_keras_at_once_both_get_all_of_it():
    """A fresh process, two threads asking at once: neither sees a half-imported module
    (the Dask worker's "partially initialized module 'keras' has no attribute 'saving'")."""
    code = ("import threading\n"
            "from filmcolor.models import import_keras\n"
            "got = []\n"
            "def ask():\n"
            "    got.append(hasattr(import_keras().saving, 'deserialize_keras_object'))\n"
            "threads = [threading.Thread(target=ask) for _ in range(4)]\n"
            "[t.start() for t in threads]\n"
            "[t.join() for t in threads]\n"
            "print(got)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[True, True, True, True]", out.stdout


def test_quiet_blocks_on_several_threads_leave_stderr_working(capfd):
    """Quiet blocks entered and left on several threads at once: what C code writes to
    fd 2 inside them is dropped, a filmcolor line from another thread meanwhile is kept,
    and fd 2 reaches the terminal afterwards."""
    inside = threading.Event()

    def quiet(i):
        with quiet_stderr():
            os.write(2, b"libfoo chatter\n")
            inside.set()
            time.sleep(0.05)

    def speak():
        inside.wait(5)
        sys.stderr.write("filmcolor: warning: said while another thread was quiet\n")

    speaker = threading.Thread(target=speak)
    speaker.start()
    together(4, quiet)
    speaker.join()
    os.write(2, b"after the quiet blocks\n")
    err = capfd.readouterr().err
    assert "after the quiet blocks" in err
    assert "said while another thread was quiet" in err
    assert "libfoo chatter" not in err


class SlowLoad:
    """load_model's stand-in: counts its calls, takes a moment (so threads overlap)."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __call__(self, path):
        self.calls.append(str(path))
        time.sleep(0.2)
        return self.model


def test_one_model_per_file_per_process_each_task_its_own_colorizer(monkeypatch, tmp_path,
                                                                      untrained_model):
    import filmcolor.models as models

    load = SlowLoad(untrained_model)
    monkeypatch.setattr(models, "load_model", load)
    monkeypatch.setattr(tasks, "_MODELS", {})
    got = together(4, lambda i: tasks._colorizer(tmp_path / "a.keras", 32, 4))
    assert load.calls == [str(tmp_path / "a.keras")]  # loaded once, the others waited
    colorizers = [c for c, _ in got]
    assert len({id(c) for c in colorizers}) == 4  # each task its own
    assert all(c.model is untrained_model for c in colorizers)
    assert len({id(c.lock) for c in colorizers}) == 1  # one lock for the shared model
    assert sorted(s > 0 for _, s in got) == [False, False, False, True]  # one paid for it


class OutOfMemoryAbove:
    """A model that runs out of memory on batches of more than `limit` frames."""

    name = "filmcolor_unet"

    def __init__(self, model, limit):
        self.model, self.limit = model, limit
        self.input_shape, self.output_shape = model.input_shape, model.output_shape

    def predict_on_batch(self, x):
        if len(x) > self.limit:
            raise MemoryError("out of memory")
        return self.model.predict_on_batch(x)


def _photo_task(make_image, name):
    src = make_image(f"{name}.png", size=(40, 56))
    item = Item(src, src.with_name(f"{name}-out.png"), "image", name)
    return Task(item, {"render_size": 32})


def test_a_batch_size_halved_by_one_task_is_that_tasks_only(monkeypatch, tmp_path,
                                                            make_image, untrained_model):
    """The first task runs out of memory at batch size 4 and finishes at 2 (its warning
    says so); the next task in the same process starts again at 4."""
    import filmcolor.models as models

    model = OutOfMemoryAbove(untrained_model, limit=2)
    monkeypatch.setattr(models, "load_model", lambda path: model)
    monkeypatch.setattr(tasks, "_MODELS", {})
    opts = BatchOptions(weights=tmp_path / "w.keras", batch_size=4, jobs=2)
    first = run_task(_photo_task(make_image, "a"), opts.weights, opts)
    assert first["status"] == "done", first
    assert any("out of memory at batch size 4" in w and "batch size 2" in w
               for w in first["warnings"]), first["warnings"]
    colorizer, _ = tasks._colorizer(opts.weights, 32, opts.batch_size)
    assert colorizer.batch_size == 4
    second = run_task(_photo_task(make_image, "b"), opts.weights, opts)
    assert second["status"] == "done"
    assert any("out of memory at batch size 4" in w for w in second["warnings"])


def test_each_task_collects_its_own_warnings_and_its_helper_threads(caplog):
    """Two tasks at once in one process: each gets the warnings of its own thread and of
    the helper threads it started, none of the other's."""

    def task(i):
        with collect_warnings() as said:
            log.warning("task %d itself", i)
            helper = helper_thread(log.warning, "filmcolor-test", ("task %d's helper", i))
            helper.start()
            helper.join()
            time.sleep(0.05)  # the other task logs meanwhile
            log.warning("task %d again", i)
        return said

    first, second = together(2, task)
    assert first == ["task 0 itself", "task 0's helper", "task 0 again"]
    assert second == ["task 1 itself", "task 1's helper", "task 1 again"]


def test_collections_nest(caplog):
    with collect_warnings() as outer:
        log.warning("one")
        with collect_warnings() as inner:
            log.warning("two")
    assert outer == ["one", "two"] and inner == ["two"]


def test_threads_checking_one_folder_at_once_all_pass(tmp_path):
    folder = tmp_path / "out"
    for _ in range(20):
        together(8, lambda i: check_writable({folder}))
    assert not list(folder.iterdir())  # no probe left behind


def test_a_model_that_does_not_load_on_a_worker_fails_its_task_naming_the_worker(
        monkeypatch, tmp_path, make_image):
    import filmcolor.models as models

    def broken(path):
        raise errors.WeightsError(f"{path}: cannot load weights (disk went away)")

    monkeypatch.setattr(models, "load_model", broken)
    monkeypatch.setattr(tasks, "_MODELS", {})
    task = _photo_task(make_image, "a")
    opts = BatchOptions(weights=tmp_path / "w.keras", jobs=2)
    result = run_task(task, opts.weights, opts)
    assert result["status"] == "failed"
    assert result["reason"] == (f"{opts.weights}: cannot load weights (disk went away) "
                                f"(on worker pid {os.getpid()} on {tasks.WORKER.split(':')[0]})")
    assert not task.item.dst.exists()
    # in this process (one job, no cluster) there is no other worker: the batch stops
    with pytest.raises(errors.WeightsError):
        run_task(task, opts.weights, BatchOptions(weights=opts.weights))


@pytest.mark.parametrize("damage", ["flipped byte", "no config", "unknown architecture"])
def test_check_weights_refuses_a_damaged_file_without_keras(damage, tmp_path, model_path):
    bad = tmp_path / "bad.keras"
    if damage == "flipped byte":  # inside the weights member: only its checksum tells
        bad.write_bytes(_flipped_in_weights(model_path))
        message = "damaged .keras file (model.weights.h5 fails its checksum)"
    else:
        with zipfile.ZipFile(model_path) as src, zipfile.ZipFile(bad, "w") as dst:
            for name in src.namelist():
                payload = src.read(name)
                if name == "config.json":
                    if damage == "no config":
                        continue
                    config = json.loads(payload)
                    config["config"]["name"] = "someone_elses"
                    payload = json.dumps(config)
                dst.writestr(name, payload)
        message = ("cannot load weights" if damage == "no config"
                   else "unknown architecture 'someone_elses'")
    with pytest.raises(errors.WeightsError, match=re.escape(message)):
        check_weights(bad)
    check_weights(model_path)  # the good file passes


def _flipped_in_weights(path):
    """The bytes of the .keras file `path` with one byte flipped in its weights' data."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("model.weights.h5")
    at = info.header_offset  # the local header: 30 bytes, then its name and extra field
    start = (at + 30 + int.from_bytes(data[at + 26:at + 28], "little")
             + int.from_bytes(data[at + 28:at + 30], "little"))
    data[start + info.compress_size // 2] ^= 0xFF
    return bytes(data)


def test_a_batch_refuses_damaged_weights_before_any_work(tmp_path, make_image, model_path,
                                                         run_cli):
    make_image("shelf/a.png")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(_flipped_in_weights(model_path))
    code, err = run_cli("batch", tmp_path / "shelf", "-o", tmp_path / "out", "--weights", bad,
                        "--jobs", "2")
    assert code == errors.EXIT_ERROR, err
    assert err.strip().splitlines() == [f"filmcolor: error: {bad}: damaged .keras file "
                                        "(model.weights.h5 fails its checksum)"], err
    assert not (tmp_path / "out").exists()


def test_colorizers_sharing_a_lock_call_the_model_one_batch_at_a_time(untrained_model):
    from filmcolor.engine import Colorizer

    inside, most = [0], [0]
    guard = threading.Lock()

    class Watching:
        name = untrained_model.name

        def predict_on_batch(self, x):
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            time.sleep(0.01)
            with guard:
                inside[0] -= 1
            return np.zeros((*x.shape[:3], 2), np.float32) + 0.5

    lock = threading.Lock()
    grays = [np.full((32, 32), 0.5, np.float32)] * 3
    together(4, lambda i: Colorizer(Watching(), 32, 1, lock=lock).predict_ab(grays))
    assert most[0] == 1
