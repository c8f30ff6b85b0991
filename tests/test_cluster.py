"""filmcolor batch on real Dask clusters on loopback, as a studio runs one: workers of
several task threads (`dask worker --nthreads 2`) give the local run's outputs; a worker
SIGKILLed in the middle of a segment while another lives costs nothing; with no worker left
(or workers that keep dying on one task) the batch stops with one line and a rerun resumes;
a model that does not load on a worker fails only the tasks that needed it there."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_segments import GOP, SIZE, planes, sample_lumas
from test_video import add_subtitles, packets, write_clip

from filmcolor import errors
from filmcolor.batch import BatchOptions, run_batch
from filmcolor.batch import report as report_mod
from filmcolor.batch.state import read_items
from filmcolor.options import FilmOptions

distributed = pytest.importorskip("dask.distributed")
pytestmark = pytest.mark.slow

FILM_FRAMES = 96  # 4 s at 24 fps: 8 segments of 0.5 s
PHOTOS = ["a.png", "b.jpg", "sub/c.png", "sub/d.png"]


@pytest.fixture
def shelf(tmp_path, make_image, random_bytes_file):
    """shelf/: four gray photos, a broken PNG and a film with subtitles that the batch
    cuts into 8 segments."""
    for seed, name in enumerate(PHOTOS):
        make_image(f"shelf/{name}", size=(48, 64), seed=seed)
    random_bytes_file("shelf/broken.png")
    clip = write_clip(tmp_path / "clip.mp4", size=SIZE, n=FILM_FRAMES, gop=GOP,
                      lumas=sample_lumas(FILM_FRAMES, SIZE))
    film = add_subtitles(clip, tmp_path, name="reel.mkv")
    film.rename(tmp_path / "shelf" / "reel.mkv")
    return tmp_path / "shelf"


def options(weights, **more):
    return BatchOptions(weights=weights, render_size=32, batch_size=4,
                        film=FilmOptions(codec="ffv1"), **more)


def cluster(workers, threads, **more):
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=threads,
                                    processes=True, host="127.0.0.1", dashboard_address=None,
                                    **more)


def colorized(outdir):
    """The colorized files under OUTDIR (not its reports, state or thumbnails)."""
    return {p.relative_to(outdir).as_posix() for p in outdir.rglob("*")
            if p.is_file() and p.parent != outdir
            and p.relative_to(outdir).parts[0] != report_mod.THUMBS_DIR}


def thumbnails(outdir):
    return {p.relative_to(outdir).as_posix() for p in (outdir / report_mod.THUMBS_DIR).rglob("*")
            if p.is_file()}


def stray(outdir):
    """What a finished batch must not leave: temporary files, work folders, progress."""
    return sorted(str(p.relative_to(outdir)) for p in outdir.rglob("*")
                  if p.name.endswith(".part") or p.name.startswith(".filmcolor-probe")
                  or ".filmcolor-work" in p.parts)


def assert_same_film(a, b):
    pa, pb = planes(a), planes(b)
    assert len(pa) == len(pb) == FILM_FRAMES
    for (ta, x), (tb, y) in zip(pa, pb):
        assert ta == tb
        np.testing.assert_array_equal(x, y)


def _say_after_the_run():
    """Run on a worker after the batch: its stderr must still reach the terminal."""
    import logging

    os.write(2, f"fd 2 of worker {os.getpid()} after the run\n".encode())
    logging.getLogger("filmcolor").warning("log line of worker %d after the run",
                                           os.getpid())
    return os.getpid()


@pytest.mark.parametrize("workers, threads", [(1, 2), (2, 2)],
                         ids=["1 worker x 2 threads", "2 workers x 2 threads"])
def test_task_threads_give_the_local_runs_outputs(workers, threads, shelf, tmp_path,
                                                  trained_weights, capfd):
    """Photos byte for byte, the segmented film plane for plane (FFV1) equal to the local
    one-pass run, the same thumbnails on the page, the broken PNG failed with its reason,
    and afterwards each worker's stderr (fd 2 and logging) still reaches the terminal."""
    local = tmp_path / "local"
    with pytest.raises(errors.PartialFailure):
        run_batch([shelf], local, options(trained_weights, segment_seconds=0))
    out = tmp_path / "dask"
    with cluster(workers, threads) as c, distributed.Client(c) as client:
        with pytest.raises(errors.PartialFailure) as failed:
            run_batch([shelf], out, options(trained_weights, scheduler=c.scheduler_address,
                                            segment_seconds=0.5))
        capfd.readouterr()
        pids = client.run(_say_after_the_run).values()
        time.sleep(0.5)  # the workers' writes reach the capture file
        err = capfd.readouterr().err
    for pid in pids:
        assert f"fd 2 of worker {pid} after the run" in err, err
        assert f"log line of worker {pid} after the run" in err, err
    assert list(failed.value.failures) == [str(shelf / "broken.png")]
    expected = {f"shelf/{p}" for p in PHOTOS} | {"shelf/reel.mkv"}
    assert colorized(local) == colorized(out) == expected
    for name in PHOTOS:
        assert (local / "shelf" / name).read_bytes() == (out / "shelf" / name).read_bytes()
    assert_same_film(local / "shelf" / "reel.mkv", out / "shelf" / "reel.mkv")
    assert packets(out / "shelf" / "reel.mkv", "subtitle") == packets(shelf / "reel.mkv",
                                                                     "subtitle")
    entry = read_items(out)["shelf/reel.mkv"]
    assert entry["status"] == "done" and entry["segments"] == 8, entry

    thumbs = thumbnails(out)
    assert len(thumbs) == 2 * len(PHOTOS) + 2 * 3  # before and after: a photo 1, a film 3
    assert thumbs == thumbnails(local)
    page = (out / report_mod.REPORT_HTML).read_text()
    for rel in thumbs:
        assert (out / rel).read_bytes() == (local / rel).read_bytes(), rel
        assert rel in page, rel
    assert stray(out) == []


def _kill_the_first_segment_writer(out, alive, killed, stop):
    """SIGKILL the worker that writes the first segment file seen (.seg-N.mp4.PID.part),
    once; `alive` holds the workers' pids."""
    while not stop.is_set():
        for part in (out / ".filmcolor-work").rglob(".seg-*.part"):
            pid = int(part.name.split(".")[-2])
            if pid in alive:
                os.kill(pid, signal.SIGKILL)
                killed.append((pid, part.name))
                return
        time.sleep(0.002)


def test_a_worker_killed_mid_segment_costs_nothing_while_another_lives(shelf, tmp_path,
                                                                       trained_weights):
    """Two single-thread workers; the one writing a segment is SIGKILLed in the middle of
    it: Dask runs the segment again (on the other worker, or the one its nanny restarts),
    the batch finishes and the film equals the one-pass film, with nothing left over."""
    for p in shelf.rglob("*"):
        if p.is_file() and p.name != "reel.mkv":
            p.unlink()
    run_batch([shelf], tmp_path / "local", options(trained_weights, segment_seconds=0))
    out = tmp_path / "dask"
    killed, stop = [], threading.Event()
    with cluster(2, 1) as c, distributed.Client(c) as client:
        pids = set(client.run(os.getpid).values())
        killer = threading.Thread(target=_kill_the_first_segment_writer,
                                  args=(out, pids, killed, stop))
        killer.start()
        try:
            rep = run_batch([shelf], out, options(trained_weights, scheduler=c.scheduler_address,
                                                  segment_seconds=0.5))
        finally:
            stop.set()
            killer.join()
        after = set(client.run(os.getpid).values())
    assert len(killed) == 1, "no segment was being written by a worker"
    assert len(after) == 2 and killed[0][0] not in after  # its nanny restarted it
    assert rep["totals"]["done"] == 1 and rep["totals"]["failed"] == 0, rep["totals"]
    assert read_items(out)["shelf/reel.mkv"]["segments"] == 8
    assert_same_film(tmp_path / "local" / "shelf" / "reel.mkv", out / "shelf" / "reel.mkv")
    assert stray(out) == []
    assert colorized(out) == {"shelf/reel.mkv"}


def test_workers_that_keep_dying_on_one_task_stop_the_batch_in_one_line(shelf, tmp_path,
                                                                         trained_weights):
    """A scheduler that gives up on a task once its worker died (allowed-failures 0, as
    after 3 deaths by default): joblib's dask backend would wait for it for ever; the
    batch stops with a ClusterError and leaves no temporary file. (The segment killed was
    being written by the worker: a cluster of one task thread gets the work, although
    joblib runs a Parallel of one job in the calling process.)"""
    import dask

    for p in shelf.rglob("*"):
        if p.is_file() and p.name != "reel.mkv":
            p.unlink()
    out = tmp_path / "dask"
    killed, stop = [], threading.Event()
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            cluster(1, 1) as c, distributed.Client(c) as client:
        killer = threading.Thread(target=_kill_the_first_segment_writer,
                                  args=(out, set(client.run(os.getpid).values()), killed,
                                        stop))
        killer.start()
        try:
            with pytest.raises(errors.ClusterError) as stopped:
                run_batch([shelf], out, options(trained_weights, scheduler=c.scheduler_address,
                                                segment_seconds=0.5))
        finally:
            stop.set()
            killer.join()
    assert killed
    message = str(stopped.value)
    assert "Dask workers kept dying while running one task" in message, message
    assert "rerun the same command to resume" in message and "\n" not in message
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]


def test_a_scheduler_with_no_worker_is_refused_in_one_line(shelf, tmp_path, model_path):
    """joblib's backend would wait 10 s and raise a TimeoutError of several lines."""
    out = tmp_path / "out"
    with cluster(0, 1) as c:
        with pytest.raises(errors.ClusterError) as refused:
            run_batch([shelf], out, options(model_path, scheduler=c.scheduler_address,
                                            worker_timeout=1))
    assert str(refused.value) == (f"{c.scheduler_address}: no Dask worker joined in 1 s "
                                  f"(start one: dask worker {c.scheduler_address})")
    assert colorized(out) == set() and stray(out) == []


def _start(cmd, **kw):
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def _wait_for(what, check, proc=None, seconds=300):
    deadline = time.monotonic() + seconds  # only stops a hang: the tests wait for events
    while not check():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the batch ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} in {seconds} s")
        time.sleep(0.01)


def test_with_no_worker_left_the_batch_stops_in_one_line_and_a_rerun_resumes(
        shelf, tmp_path, trained_weights):
    """`dask scheduler` and one `dask worker --no-nanny` as processes; the worker is
    SIGKILLed after the film's first segment: the batch stops --worker-timeout seconds
    later with one line (exit 1) and no temporary file; with a new worker the same command
    resumes from the finished segments and gives the one-pass film."""
    for p in shelf.rglob("*"):
        if p.is_file() and p.name != "reel.mkv":
            p.unlink()
    run_batch([shelf], tmp_path / "local", options(trained_weights, segment_seconds=0))
    dask_cli = [sys.executable, "-m", "distributed.cli.dask_worker"]
    address_file = tmp_path / "scheduler.json"
    scheduler = _start([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                        "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file",
                        str(address_file)])
    workers = []
    try:
        _wait_for("scheduler file", address_file.is_file, scheduler, 120)
        import json

        address = json.loads(address_file.read_text())["address"]
        workers.append(_start([*dask_cli, address, "--no-nanny", "--nthreads", "1",
                               "--no-dashboard"]))
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "filmcolor", "batch", str(shelf), "-o", str(out),
               "--scheduler", address, "--worker-timeout", "3", "--segment-seconds", "0.5",
               "--weights", str(trained_weights), "--render-size", "32", "--batch-size", "4",
               "--codec", "ffv1", "-q"]
        batch = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        work = out / ".filmcolor-work"
        _wait_for("finished segment", lambda: list(work.rglob("seg-*.mp4")), batch)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=30)
        _, err = batch.communicate(timeout=300)
        assert batch.returncode == errors.EXIT_ERROR, err
        assert err.strip().splitlines() == [
            f"filmcolor: error: {address}: no Dask worker for 3 s; the batch stopped: "
            "finished items and segments are kept; rerun the same command to resume"], err
        assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
        finished = len(list(work.rglob("seg-*.mp4")))
        assert 1 <= finished < 8

        workers.append(_start([*dask_cli, address, "--nthreads", "2", "--no-dashboard"]))
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        log = (out / "filmcolor.log").read_text()
        assert f"resume {shelf / 'reel.mkv'}: {finished} of 8 segments finished earlier" in log
        assert_same_film(tmp_path / "local" / "shelf" / "reel.mkv", out / "shelf" / "reel.mkv")
        assert stray(out) == []
    finally:
        for proc in [*workers, scheduler]:
            proc.kill()
            proc.wait(timeout=30)


def _break_loading(path):
    """On a worker: loading the model in `path` fails there (a broken disk, say)."""
    import filmcolor.models as models

    real = models.load_model

    def load(p):
        if str(p) == path:
            raise models.WeightsError(f"{p}: cannot load weights (unreadable here)")
        return real(p)

    models.load_model = load
    return os.getpid()


def test_a_model_that_fails_to_load_on_a_worker_fails_only_its_tasks(shelf, tmp_path):
    """Photos and films use their own default models; the photo model cannot be loaded on
    the worker: the photos fail there with the reason and the worker's name, the film is
    done, and the batch ends with exit 3 (not a stop)."""
    from filmcolor.models import shipped_weights

    photo_weights = str(shipped_weights().absolute())
    out = tmp_path / "dask"
    with cluster(1, 2) as c, distributed.Client(c) as client:
        pid = next(iter(client.run(_break_loading, photo_weights).values()))
        with pytest.raises(errors.PartialFailure) as failed:
            run_batch([shelf], out, BatchOptions(render_size=32, scheduler=c.scheduler_address,
                                                 segment_seconds=0.5,
                                                 film=FilmOptions(codec="ffv1")))
    failures = failed.value.failures
    assert set(failures) == {str(shelf / p) for p in [*PHOTOS, "broken.png"]}
    for name in PHOTOS:
        assert failures[str(shelf / name)] == (
            f"{photo_weights}: cannot load weights (unreadable here) (on worker pid {pid} on "
            f"{socket.gethostname()})"), failures
    assert colorized(out) == {"shelf/reel.mkv"}
    assert read_items(out)["shelf/reel.mkv"]["status"] == "done"


