import importlib.util
import os

import imageio.v3 as iio
import numpy as np
import pytest

import env
from utils.errors import UserError
from algos.run.episodes import record_video
from teacher.policy import TeacherSpec
from tests.helpers import run_main
from planner.task_spec import task_config
from utils.video import STRIP_HEIGHT, UNSEEN_GREY, VideoRecorder, check_video_path, prune_videos, render_memory_frame

ENV_ID = "MiniGrid-SimpleDoorKey-Min5-Max10-View3"
TILE = 16


def random_chooser(seed):
    rng = np.random.default_rng(seed)
    return lambda obs, teacher, starts: rng.integers(0, 7, size=len(obs))


def record(path, seeds, use_teacher=False):
    spec = TeacherSpec(task_config("SimpleDoorKey"))
    make = (lambda seed: (lambda obs, teacher, starts: teacher.argmax(1))) if use_teacher else random_chooser
    return record_video(str(path), ENV_ID, seeds, spec, use_teacher, 1, make)


def test_video_has_the_first_frame_and_one_per_step(tmp_path):
    path = tmp_path / "videos" / "eval.gif"
    results = record(path, [0, 1])
    assert len(results) == 2
    for ret, length, success in results:
        assert 1 <= length <= 150 and 0.0 <= ret <= 1.0
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == sum(length + 1 for _, length, _ in results)
    e = env.make_env(ENV_ID)
    assert frames.shape[1:] == (e.height * TILE + STRIP_HEIGHT, e.width * TILE, 3)


def test_teacher_video_ends_on_the_opened_door(tmp_path):
    results = record(tmp_path / "t.gif", [3], use_teacher=True)
    assert results[0][2]  # the teacher opens the door; the last frame is the final state, not a new episode
    frames = iio.imread(tmp_path / "t.gif", index=None)
    assert frames.shape[0] == results[0][1] + 1


def test_render_memory_frame_greys_unseen_cells():
    e = env.make_env(ENV_ID)
    e.reset(seed=1)
    frame = render_memory_frame(e, tile_size=TILE)
    true = e.grid.render(TILE, e.agent_pos, e.agent_dir, highlight_mask=None)
    assert frame.shape == true.shape and frame.dtype == np.uint8
    seen = e.seen
    assert seen.any() and not seen.all()
    # a seen cell looks exactly as in minigrid's drawing
    sx, sy = map(int, e.agent_pos)
    assert np.array_equal(frame[sy * TILE:(sy + 1) * TILE, sx * TILE:(sx + 1) * TILE],
                          true[sy * TILE:(sy + 1) * TILE, sx * TILE:(sx + 1) * TILE])
    # every unseen cell is pulled towards the dark grey: a wall gets darker, black floor lighter
    unseen = [(x, y) for x in range(e.width) for y in range(e.height) if not seen[x, y]]
    for x, y in unseen:
        c = (y * TILE + TILE // 2, x * TILE + TILE // 2)
        t, f = true[c].astype(int), frame[c].astype(int)
        assert np.all(np.abs(f - UNSEEN_GREY) <= np.abs(t - UNSEEN_GREY))
        if np.abs(t - UNSEEN_GREY).max() > 10:
            assert not np.array_equal(f, t)
    walls = [(x, y) for x, y in unseen if e.grid.get(x, y) is not None and e.grid.get(x, y).type == "wall"]
    assert walls, "expected an unseen wall right after reset"
    x, y = walls[0]
    c = (y * TILE + TILE // 2, x * TILE + TILE // 2)
    assert frame[c].astype(int).sum() < true[c].astype(int).sum() - 100


def test_recorder_checks_suffix_and_shape(tmp_path):
    with pytest.raises(UserError):
        VideoRecorder(tmp_path / "x.avi")
    rec = VideoRecorder(tmp_path / "x.gif", fps=4)
    rec.add(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError):
        rec.add(np.zeros((8, 9, 3), np.uint8))
    rec.add(np.full((8, 8, 3), 255, np.uint8))
    assert rec.close() == str(tmp_path / "x.gif")
    assert iio.imread(tmp_path / "x.gif", index=None).shape == (2, 8, 8, 3)
    empty = VideoRecorder(tmp_path / "none.gif")
    assert empty.close() is None and not (tmp_path / "none.gif").exists()


def test_mp4_without_ffmpeg_is_a_user_error(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "imageio_ffmpeg" else real(name, *a))
    with pytest.raises(UserError, match="imageio-ffmpeg"):
        VideoRecorder(tmp_path / "x.mp4")


@pytest.mark.skipif(importlib.util.find_spec("imageio_ffmpeg") is None, reason="needs imageio-ffmpeg")
def test_mp4(tmp_path):
    results = record(tmp_path / "a.mp4", [0])
    assert os.path.getsize(tmp_path / "a.mp4") > 0 and results[0][1] <= 150


def test_prune_videos(tmp_path):
    for i in range(5):
        p = tmp_path / f"v{i}.gif"
        p.write_bytes(b"x")
        os.utime(p, (1000 + i, 1000 + i))
    (tmp_path / "keep.txt").write_text("x")
    removed = prune_videos(str(tmp_path), keep=2)
    assert sorted(os.path.basename(r) for r in removed) == ["v0.gif", "v1.gif", "v2.gif"]
    assert sorted(os.listdir(tmp_path)) == ["keep.txt", "v3.gif", "v4.gif"]


# ---- where the video goes is checked before any episode (issue 22) ----
def test_an_unwritable_video_path_is_one_line_before_any_episode(tmp_path):
    """/proc accepts no new file although root may write "anywhere": the error comes from trying, up front, with
    one line and no imageio "Exception ignored ... Traceback" after it."""
    result = run_main(["eval", "--task", "SimpleDoorKey", "--eval_teacher", "--num_eval", "2", "--video", "1",
                       "--video_path", "/proc/x.gif", "--logdir", tmp_path], timeout=120,
                      env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 2, result.stderr
    assert result.stderr == "error: cannot write the video /proc/x.gif: No such file or directory\n", result.stderr
    assert not os.path.exists(tmp_path / "ppo")  # nothing evaluated, nothing written


def eval_config(*argv):
    import argparse
    from algos.config import Config
    from utils.options import add_arguments, from_namespace
    return from_namespace(add_arguments(argparse.ArgumentParser(), Config, "eval").parse_args([str(a) for a in argv]),
                          Config, "eval")[0]


def test_the_video_path_is_checked_before_the_episodes(tmp_path, monkeypatch):
    import algos.run.evaluate as ev

    def ran(*args, **kw):
        raise AssertionError("an episode ran before the video path was checked")
    monkeypatch.setattr(ev, "record_video", ran)
    monkeypatch.setattr(ev, "run_episodes", ran)
    (tmp_path / "taken.gif").mkdir()
    for path, message in ((tmp_path / "taken.gif", "it is a folder"), (tmp_path / "v.avi", "must end in .gif"),
                          ("/proc/x.gif", "cannot write the video /proc/x.gif")):
        config = eval_config("--task", "SimpleDoorKey", "--eval_teacher", "--num_eval", "1", "--video", "1",
                             "--video_path", path, "--logdir", tmp_path)
        with pytest.raises(UserError, match=message):
            ev.evaluate(config)
    check_video_path(tmp_path / "new" / "folders" / "v.gif")  # folders still to create are fine
    assert sorted(os.listdir(tmp_path)) == ["taken.gif"]  # the probe leaves nothing behind
