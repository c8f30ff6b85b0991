"""filmcolor batch: mixed inputs, failure isolation with one retry, resume, report, refusals,
and --jobs 2 against --jobs 1. All with the untrained model and tiny generated files (real
Dask clusters: test_cluster.py)."""

import json
import logging
import os
import re
import time
from urllib.parse import unquote

import cv2
import pytest
from test_video import write_clip

from filmcolor.batch import run as batch_mod
from filmcolor import errors
from filmcolor.batch import report as report_mod
from filmcolor.batch import BatchOptions, run_batch
from filmcolor.batch.state import read_items


@pytest.fixture
def shelf(tmp_path, make_image, random_bytes_file):
    """shelf/ with 3 gray images (one in a subfolder), a tiny clip and a corrupt .png."""
    make_image("shelf/a.png", seed=1)
    make_image("shelf/b.jpg", seed=2)
    make_image("shelf/sub/c.png", seed=3)
    write_clip(tmp_path / "shelf" / "sub" / "clip.mp4", n=6, audio=False)
    random_bytes_file("shelf/broken.png")
    return tmp_path / "shelf"


EXPECTED = {"shelf/a.png", "shelf/b.jpg", "shelf/sub/c.png", "shelf/sub/clip.mp4"}


def outputs(outdir):
    """The colorized files (not the reports, the state or the report's thumbnails)."""
    return {p.relative_to(outdir).as_posix() for p in outdir.rglob("*")
            if p.is_file() and p.parent != outdir
            and p.relative_to(outdir).parts[0] != report_mod.THUMBS_DIR}


def report(outdir):
    return json.loads((outdir / "report.json").read_text())


def by_name(rep):
    return {r["input"].split("/")[-1]: r for r in rep["items"]}


@pytest.fixture
def count_calls(monkeypatch):
    """Counts run_task calls per input name (in-process runs only)."""
    calls = []
    real = batch_mod.run_task

    def counting(task, *args, **kwargs):
        calls.append(task.item.src.name)
        return real(task, *args, **kwargs)

    monkeypatch.setattr(batch_mod, "run_task", counting)
    return calls


def test_batch_isolates_failure_reports_and_resumes(shelf, tmp_path, model_path, run_cli,
                                                     count_calls):
    out = tmp_path / "out"
    args = ["batch", shelf, "-o", out, "--weights", model_path, "--render-size", "32", "-q"]
    code, err = run_cli(args)
    assert code == errors.EXIT_PARTIAL == 3, err
    assert "1 of 5 items failed" in err
    assert outputs(out) == EXPECTED
    assert count_calls.count("broken.png") == 2  # tried, then retried once
    assert sorted(count_calls) == sorted(["a.png", "b.jpg", "c.png", "clip.mp4"]
                                         + ["broken.png"] * 2)

    rep = report(out)
    assert rep["totals"]["done"] == 4 and rep["totals"]["failed"] == 1
    items = by_name(rep)
    assert items["broken.png"]["status"] == "failed"
    assert "not a readable image" in items["broken.png"]["reason"]
    assert items["broken.png"]["attempts"] == 2 and items["broken.png"]["fps"] is None
    assert items["a.png"]["fps"] > 0
    assert items["clip.mp4"]["kind"] == "video" and items["clip.mp4"]["frames"] == 6
    assert items["a.png"]["frames"] == 1 and items["a.png"]["status"] == "done"

    page = (out / "report.html").read_text()
    assert "broken.png" in page and "not a readable image" in page
    # before and after: a photo once each, the film at 3 points of its length each, as
    # files beside the page, loaded lazily
    shown = re.findall(r"<img src='([^']+)'[^>]*loading='lazy'>", page)
    assert len(shown) == 3 * 2 + 2 * report_mod.FILM_THUMBS
    assert all(cv2.imread(str(out / unquote(s))) is not None for s in shown)

    logged = (out / "filmcolor.log").read_text()
    assert "retry" in logged and "failed" in logged and "done" in logged
    state = {"items": read_items(out)}
    assert state["items"]["shelf/a.png"]["settings"]["render_size"] == 32

    # the rerun does no work for finished items and retries the failed one
    mtimes = {p: (out / p).stat().st_mtime_ns for p in EXPECTED}
    count_calls.clear()
    code, err = run_cli(args)
    assert code == 3, err
    assert count_calls == ["broken.png", "broken.png"]
    assert {p: (out / p).stat().st_mtime_ns for p in EXPECTED} == mtimes
    rep = report(out)
    assert rep["totals"]["skipped"] == 4 and rep["totals"]["failed"] == 1
    assert "skipped" in (out / "filmcolor.log").read_text()

    # other settings redo the items; a missing output is redone too
    count_calls.clear()
    (out / "shelf" / "a.png").unlink()
    code, _ = run_cli(args[:-3] + ["--render-size", "48"])
    assert code == 3
    assert sorted(count_calls) == sorted(["a.png", "b.jpg", "c.png", "clip.mp4"]
                                         + ["broken.png"] * 2)
    assert report(out)["totals"]["done"] == 4
    assert "saturation" not in read_items(out)["shelf/a.png"]["settings"]
    # so does another saturation (part of every item's key when it is not 1)
    count_calls.clear()
    code, _ = run_cli(args[:-3] + ["--render-size", "48", "--saturation", "0.5"])
    assert code == 3
    assert sorted(count_calls) == sorted(["a.png", "b.jpg", "c.png", "clip.mp4"]
                                         + ["broken.png"] * 2)
    assert read_items(out)["shelf/a.png"]["settings"]["saturation"] == 0.5


def test_all_good_exits_zero_and_film_options_only_redo_films(shelf, tmp_path, model_path,
                                                              run_cli, count_calls):
    (shelf / "broken.png").unlink()
    out = tmp_path / "out"
    args = ["batch", shelf, "-o", out, "--weights", model_path, "--render-size", "32", "-q"]
    assert run_cli(args)[0] == 0
    count_calls.clear()
    assert run_cli(args + ["--crf", "30"])[0] == 0
    assert count_calls == ["clip.mp4"]


def test_other_weights_of_the_same_size_redo_everything(shelf, tmp_path, run_cli,
                                                       count_calls):
    """Two runs of one architecture save files of one size: the resume key hashes the bytes."""
    from filmcolor.models import build_model

    (shelf / "broken.png").unlink()
    first, second = tmp_path / "w1" / "best.keras", tmp_path / "w2" / "best.keras"
    for path, seed in ((first, 0), (second, 1)):
        path.parent.mkdir()
        build_model(seed=seed).save(path)
    assert first.stat().st_size == second.stat().st_size
    out = tmp_path / "out"
    args = ["batch", shelf, "-o", out, "--render-size", "32", "-q", "--weights"]
    assert run_cli(args + [first])[0] == 0
    count_calls.clear()
    assert run_cli(args + [second])[0] == 0
    assert sorted(count_calls) == sorted(["a.png", "b.jpg", "c.png", "clip.mp4"])


def test_state_file_of_the_json_format_is_migrated_and_resumes(shelf, tmp_path, model_path,
                                                                run_cli, count_calls):
    """A shelf interrupted under the JSON state file, from before weights were hashed
    (named by name and size), is migrated into the database and not redone when name and
    size agree."""
    (shelf / "broken.png").unlink()
    out = tmp_path / "out"
    args = ["batch", shelf, "-o", out, "--weights", model_path, "--render-size", "32", "-q"]
    assert run_cli(args)[0] == 0
    items = read_items(out)
    for row in items.values():
        row["settings"]["weights"] = {"name": model_path.name,
                                      "size": model_path.stat().st_size}
    for p in out.glob(".filmcolor-state.sqlite*"):
        p.unlink()
    old = out / ".filmcolor-state.json"
    old.write_text(json.dumps({"version": 1, "items": items}))
    count_calls.clear()
    assert run_cli(args)[0] == 0
    assert count_calls == []
    assert not old.exists() and (out / ".filmcolor-state.json.migrated").exists()
    assert read_items(out).keys() == items.keys()


@pytest.mark.parametrize("what", ["old json", "database"])
def test_unreadable_state_is_set_aside_with_a_warning_and_the_batch_redone(
        what, shelf, tmp_path, model_path, run_cli, count_calls):
    (shelf / "broken.png").unlink()
    out = tmp_path / "out"
    args = ["batch", shelf, "-o", out, "--weights", model_path, "--render-size", "32"]
    assert run_cli(args)[0] == 0
    name = ".filmcolor-state.json" if what == "old json" else ".filmcolor-state.sqlite"
    for p in out.glob(".filmcolor-state.sqlite*"):
        p.unlink()
    (out / name).write_bytes(b"\x00 not a state file" * 50)
    count_calls.clear()
    code, err = run_cli(args)
    assert code == 0, err
    assert f"{name}: unreadable state" in err and "Traceback" not in err
    assert (out / f"{name}.unreadable").exists()
    assert sorted(count_calls) == sorted(["a.png", "b.jpg", "c.png", "clip.mp4"])


def test_a_second_batch_on_the_same_folder_is_refused_naming_the_first(
        tmp_path, make_image, model_path, run_cli):
    from filmcolor.batch.state import BatchState

    make_image("p.png")
    out = tmp_path / "out"
    out.mkdir()
    with BatchState(out):  # what a running batch holds
        code, err = run_cli("batch", tmp_path / "p.png", "-o", out, "--weights", model_path)
    assert code == errors.EXIT_USAGE, err
    assert len(err.strip().splitlines()) == 1, err
    assert f"pid {os.getpid()}" in err and "another filmcolor batch" in err
    assert not (out / "p.png").exists()
    assert run_cli("batch", tmp_path / "p.png", "-o", out, "--weights", model_path,
                   "-q")[0] == 0  # free again once it closed


def test_globs_and_single_files_map_under_outdir(tmp_path, make_image, model_path, run_cli):
    make_image("pics/x.png")
    make_image("pics/y.png", seed=4)
    make_image("one.jpg", seed=5)
    out = tmp_path / "out"
    code, err = run_cli("batch", str(tmp_path / "pics" / "*.png"), tmp_path / "one.jpg",
                        "-o", out, "--weights", model_path, "--render-size", "32", "-q")
    assert code == 0, err
    assert {p.name for p in out.iterdir() if p.suffix in (".png", ".jpg")} == {
        "x.png", "y.png", "one.jpg"}


@pytest.mark.parametrize("case", ["missing", "glob_matches_nothing", "outdir_inside_input",
                                  "same_output", "not_media"])
def test_refusals_exit_2(case, tmp_path, make_image, model_path, run_cli):
    make_image("a/p.png")
    make_image("b/p.png", seed=1)
    (tmp_path / "notes.txt").write_text("x")
    inputs, out = {
        "missing": ([tmp_path / "nope.png"], tmp_path / "out"),
        "glob_matches_nothing": ([str(tmp_path / "*.tif")], tmp_path / "out"),
        "outdir_inside_input": ([tmp_path / "a"], tmp_path / "a" / "out"),
        "same_output": ([tmp_path / "a" / "p.png", tmp_path / "b" / "p.png"], tmp_path / "out"),
        "not_media": ([tmp_path / "notes.txt"], tmp_path / "out"),
    }[case]
    code, err = run_cli("batch", *inputs, "-o", out, "--weights", model_path)
    assert code == errors.EXIT_USAGE == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert not (out / "report.json").exists()


def test_outdir_holding_the_input_folder_is_refused(tmp_path, make_image):
    make_image("out/shelf/p.png")
    with pytest.raises(errors.SameFileError):
        run_batch([tmp_path / "out" / "shelf"], tmp_path / "out")


def test_quiet_still_logs_item_events_to_the_file(tmp_path, make_image, model_path, run_cli):
    make_image("p.png")
    out = tmp_path / "out"
    code, err = run_cli("batch", tmp_path / "p.png", "-o", out, "--weights", model_path,
                        "--render-size", "32", "-q")
    assert code == 0 and "start" not in err
    logged = (out / "filmcolor.log").read_text()
    assert "start" in logged and "done" in logged
    assert not any(isinstance(h, logging.FileHandler)
                   for h in logging.getLogger("filmcolor").handlers)


@pytest.mark.slow
def test_jobs_2_gives_the_same_outputs_as_jobs_1(shelf, tmp_path, model_path):
    (shelf / "broken.png").unlink()
    opts = {"weights": model_path, "render_size": 32, "batch_size": 2}
    one = run_batch([shelf], tmp_path / "one", BatchOptions(jobs=1, **opts))
    two = run_batch([shelf], tmp_path / "two", BatchOptions(jobs=2, **opts))
    assert outputs(tmp_path / "one") == outputs(tmp_path / "two") == EXPECTED
    assert one["totals"]["done"] == two["totals"]["done"] == 4
    for rel in EXPECTED - {"shelf/sub/clip.mp4"}:  # same model, same pixels
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()


def test_unreachable_scheduler_is_a_usage_error(shelf, tmp_path, model_path):
    pytest.importorskip("dask.distributed")
    from filmcolor.errors import UsageError

    opts = BatchOptions(weights=model_path, scheduler="tcp://127.0.0.1:9",
                        scheduler_timeout=2)
    with pytest.raises(UsageError, match="cannot reach the Dask scheduler"):
        run_batch([shelf], tmp_path / "out", opts)


def test_manifest_lists_inputs(shelf, tmp_path, model_path):
    manifest = tmp_path / "tonight.txt"
    manifest.write_text("# tonight's shelf\nshelf/a.png\n\nshelf/sub\n")
    report = run_batch([manifest], tmp_path / "out",
                       BatchOptions(weights=model_path, render_size=32, batch_size=2))
    assert report["totals"]["done"] == 3
    assert outputs(tmp_path / "out") == {"sub/c.png", "sub/clip.mp4"}
    assert (tmp_path / "out" / "a.png").is_file()


def test_manifest_line_that_is_not_a_file_is_refused(run_cli, shelf, tmp_path, model_path):
    manifest = tmp_path / "list.txt"
    manifest.write_text("shelf/a.png\nshelf/missing.png\n")
    code, err = run_cli("batch", manifest, "-o", tmp_path / "out", "--weights", model_path)
    assert code == 2 and "list.txt:2: shelf/missing.png: no such file" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_sigterm_mid_film_stops_cleanly_and_the_rerun_resumes(tmp_path, make_image,
                                                              model_path):
    """SIGTERM while a film is being colorized: exit 130, no temporary file left, the photo
    finished before it is kept as done, and the rerun does only the film."""
    import json
    import signal
    import subprocess
    import sys
    import time

    make_image("shelf/a.png", seed=1)
    write_clip(tmp_path / "shelf" / "z_long.mp4", size=(120, 160), n=1200, audio=False)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "filmcolor", "batch", str(tmp_path / "shelf"), "-o", str(out),
           "--weights", str(model_path), "--render-size", "32", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # until the film is being written (its temporary output exists), however slow the
    # machine; the deadline only stops a hang
    deadline = time.monotonic() + 900
    while not list((out / "shelf").glob(".z_long.mp4.*.part")):
        assert proc.poll() is None, f"the batch ended before the film started: {proc.stderr}"
        assert time.monotonic() < deadline, "the film did not start in 15 minutes"
        time.sleep(0.02)
    assert proc.poll() is None, "the film finished before SIGTERM could be sent"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    assert not (out / "shelf" / "z_long.mp4").exists()
    state = {"items": read_items(out)}
    done = {k for k, v in state["items"].items() if v["status"] == "done"}
    assert done == {"shelf/a.png"}
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["skipped"] == 1 and report["totals"]["done"] == 1


def test_stale_temporary_files_of_a_killed_run_are_removed(shelf, tmp_path, model_path):
    (shelf / "broken.png").unlink()
    out = tmp_path / "out"
    stale = out / "shelf" / "sub" / ".clip.mp4.4242.part"  # as a SIGKILLed run leaves it
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a film")
    run_batch([shelf], out, BatchOptions(weights=model_path, render_size=32, batch_size=2))
    assert not stale.exists()
    assert (out / "shelf" / "sub" / "clip.mp4").is_file()


def test_outdir_that_cannot_be_created_fails_clearly(run_cli, shelf, tmp_path, model_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    code, err = run_cli("batch", shelf, "-o", blocker / "out", "--weights", model_path, "-q")
    assert code == errors.EXIT_ERROR
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "a_file" in lines[0] and "not writable" in lines[0], err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only folder")
def test_read_only_outdir_fails_clearly(run_cli, shelf, tmp_path, model_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        code, err = run_cli("batch", shelf, "-o", out, "--weights", model_path, "-q")
    finally:
        out.chmod(0o755)
    assert code == errors.EXIT_ERROR and "not writable" in err
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_full_disk_fails_the_film_clearly_and_the_rerun_finishes_it(tmp_path, make_image,
                                                                    model_path):
    """Writes past 512 KiB fail (RLIMIT_FSIZE, as a full disk fails them): the film's
    output is refused with its reason, nothing half-written is left or recorded as done,
    the photo is done, exit 3; the same command with room again finishes only the film."""
    import resource
    import subprocess
    import sys

    make_image("shelf/a.png", seed=1)
    write_clip(tmp_path / "shelf" / "film.mkv", size=(240, 320), n=24, audio=False)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "filmcolor", "batch", str(tmp_path / "shelf"), "-o", str(out),
           "--weights", str(model_path), "--render-size", "32", "--codec", "ffv1", "-q"]
    limit = 512 * 1024

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    full = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          preexec_fn=small_disk)
    assert full.returncode == errors.EXIT_PARTIAL, full.stderr
    items = report(out)["items"]
    film = by_name(report(out))["film.mkv"]
    assert film["status"] == "failed" and "film.mkv" in film["reason"]
    assert "too large" in film["reason"].lower(), film["reason"]
    assert by_name({"items": items})["a.png"]["status"] == "done"
    assert not (out / "shelf" / "film.mkv").exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    state = {"items": read_items(out)}
    assert state["items"]["shelf/film.mkv"]["status"] == "failed"

    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    t = report(out)["totals"]
    assert (t["done"], t["skipped"]) == (1, 1)
    assert (out / "shelf" / "film.mkv").stat().st_size > limit


def test_one_progress_bar_counts_frames_and_items(run_cli, shelf, tmp_path, model_path):
    (shelf / "broken.png").unlink()
    code, err = run_cli("batch", shelf, "-o", tmp_path / "out", "--weights", model_path,
                        "--render-size", "32")
    assert code == 0, err
    # 3 photos (a frame each) and the 6-frame clip
    assert "9/9 [" in err and "4/4 items" in err, err


@pytest.mark.parametrize("jobs", [1, 2])
def test_the_bar_counts_a_films_frames_while_it_is_encoded(tmp_path, model_path, jobs,
                                                           monkeypatch, capsys):
    """The bar moves within a film (not only when it finishes), also when a worker process
    encodes it, and appears with the first frame, so the start-up is not in its rate."""
    monkeypatch.setattr(batch_mod._Progress, "POLL_SECONDS", 0.02)
    (tmp_path / "shelf").mkdir()
    write_clip(tmp_path / "shelf" / "film.mp4", n=240, audio=False)
    real = batch_mod.run_task

    def slow_task(*a, **k):  # a worker slowed down so the poller sees it mid-film
        import filmcolor.films as films

        put = films.FrameSink._put

        def put_slowly(self, q, item):
            if item[0] == "frame":
                time.sleep(0.004)
            return put(self, q, item)

        films.FrameSink._put = put_slowly
        import filmcolor.batch.tasks as tasks

        tasks.PROGRESS_SECONDS = 0.02
        try:
            return real(*a, **k)
        finally:
            films.FrameSink._put = put

    monkeypatch.setattr(batch_mod, "run_task", slow_task)
    out = tmp_path / "out"
    run_batch([tmp_path / "shelf"], out, BatchOptions(
        weights=model_path, render_size=32, jobs=jobs, progress=True))
    err = capsys.readouterr().err
    counts = {int(m) for m in re.findall(r"\| *(\d+)/240 \[", err)}
    assert 240 in counts and any(0 < n < 240 for n in counts), err
    assert 0 not in counts  # no bar before the first frame
    assert not (out / batch_mod.WORK_DIR).exists()  # the progress files are gone


def test_the_log_says_what_the_outdir_holds_and_who_loaded_the_model(
        shelf, tmp_path, model_path, caplog, monkeypatch):
    import filmcolor.batch.tasks as tasks

    monkeypatch.setattr(tasks, "_MODELS", {})  # this process loads the model afresh
    (shelf / "broken.png").unlink()
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO, logger="filmcolor"):
        run_batch([shelf], out, BatchOptions(weights=model_path, render_size=32))
    first = caplog.text
    assert re.search(r"model loaded in \d+\.\d s by worker pid \d+ on \S+ \(counted in "
                     r"the time of ", first), first
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="filmcolor"):
        rep = run_batch([shelf], out, BatchOptions(weights=model_path, render_size=32))
    t = rep["totals"]
    assert (t["done"], t["skipped"], t["in_outdir"], t["items"]) == (0, 4, 4, 4)
    assert f"batch: 4 of 4 items in {out} (0 done now, 4 done earlier), 0 failed" \
        in caplog.text
    page = (out / "report.html").read_text()
    assert "in the output folder: <b>4</b> of 4" in page


@pytest.mark.parametrize("jobs", [1, 2])
def test_warnings_reach_the_log_and_the_report_once(tmp_path, model_path, jobs):
    """A truncated film is colorized as far as it goes, with a warning: logged once in
    OUTDIR's log (also when a worker process made it) and shown on its report row."""
    full = write_clip(tmp_path / "full.mp4", n=48, audio=False, faststart=True)
    (tmp_path / "shelf").mkdir()
    cut = tmp_path / "shelf" / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 2 // 3])
    out = tmp_path / "out"
    rep = run_batch([tmp_path / "shelf"], out,
                    BatchOptions(weights=model_path, render_size=32, jobs=jobs))
    row = by_name(rep)["cut.mp4"]
    assert row["status"] == "done" and rep["totals"]["with_warnings"] == 1
    # the truncation, and the broken last packet (as it happens and counted at the end)
    truncated = [w for w in row["warnings"] if "truncated" in w]
    assert len(truncated) == 1 and len(row["warnings"]) == 3, row["warnings"]
    log_text = (out / "filmcolor.log").read_text()
    assert [log_text.count(w) for w in row["warnings"]] == [1, 1, 1]
    assert truncated[0] in (out / "report.html").read_text()
