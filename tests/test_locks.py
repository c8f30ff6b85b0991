"""One run per output: a second run on the same output is refused at once, in one line;
a killed run's lock does not block the next one."""

import os
import signal
import subprocess
import sys

import pytest
from test_video import write_clip

from filmcolor.errors import EXIT_USAGE
from filmcolor.locks import lock_path, output_lock


@pytest.fixture
def film(tmp_path):
    return write_clip(tmp_path / "film.mp4", n=6)


@pytest.mark.parametrize("kind", ["film", "photo"])
def test_a_second_run_on_the_same_output_is_refused_at_once(kind, film, tmp_path, run_cli,
                                                            model_path, make_image):
    src = film if kind == "film" else make_image("photo.png")
    out = tmp_path / ("out.mp4" if kind == "film" else "out.png")
    with output_lock(out):  # the first run, still writing
        code, err = run_cli(src, out, "--weights", model_path, "-q")
    assert code == EXIT_USAGE
    assert err.strip() == (f"filmcolor: error: {out}: another filmcolor run is writing this "
                           f"output (pid {os.getpid()} on {os.uname().nodename}); wait for "
                           "it or choose another output")
    assert not out.exists()
    assert run_cli(src, out, "--weights", model_path, "-q")[0] == 0  # released: it runs
    assert not lock_path(out).exists()  # and leaves no lock file behind


def test_a_killed_runs_lock_does_not_block_the_next(film, tmp_path, run_cli, model_path):
    out = tmp_path / "out.mp4"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from filmcolor.locks import output_lock\n"
         f"with output_lock({str(out)!r}):\n    print('locked', flush=True)\n"
         "    time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert run_cli(film, out, "--weights", model_path, "-q")[0] == EXIT_USAGE
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
    assert lock_path(out).exists()  # a killed run leaves its file ...
    code, err = run_cli(film, out, "--weights", model_path, "-q")
    assert code == 0, err  # ... but not its lock
    assert out.exists() and not lock_path(out).exists()


def test_a_run_that_finished_while_waiting_is_not_overwritten(film, tmp_path, run_cli,
                                                               model_path, monkeypatch):
    """The output is planned again under the lock: a run that finished between the first
    check and the lock has made it, and without --overwrite it is kept."""
    import filmcolor.locks as locks

    out = tmp_path / "out.mp4"
    real = locks._take

    def take_after_the_other_run_finished(dst):
        out.write_bytes(b"the other run's film")
        return real(dst)

    monkeypatch.setattr(locks, "_take", take_after_the_other_run_finished)
    code, err = run_cli(film, out, "--weights", model_path, "-q")
    assert code == EXIT_USAGE and "output already exists" in err
    assert out.read_bytes() == b"the other run's film"
