"""--sighted_teacher: a 3D task's teacher teaches only the steps whose skill acts on what the camera shows; the
others (a go to target out of view, explore's walk toward unvisited floor, a wait) are left untaught, and what the
teacher advises (and does when it drives) is unchanged."""
import json

import numpy as np
import pytest

import main
from algos.vec_env.env_group import EnvGroup
from env import miniworld as mw
from planner.task_spec import task_config
from teacher.miniworld_teacher import KEEP, MiniWorldTeacher
from teacher.policy import TeacherSpec
from tests.test_miniworld import PUTNEXT, Rules, every_box_seen
from tests.helpers import read_metrics


def test_a_go_to_target_that_leaves_the_view_is_blind_until_the_search_turns_to_find_it():
    env, teacher, red = every_box_seen()
    teacher.sighted = True
    while not mw.in_view(env, red):
        env.step(int(env.actions.turn_left))
    probs = teacher.teach(env)  # go to the red box, which the camera shows
    assert probs is not None and not teacher.blind and "red box" in teacher.aims
    while mw.in_view(env, red):  # a student turns away: the box leaves the view
        env.step(int(env.actions.turn_right))
    for _ in range(KEEP - 1):  # still headed for, from memory: blind, nothing taught
        assert teacher.teach(env) is None and teacher.blind and "red box" in teacher.aims
        env.step(int(env.actions.done))  # changes nothing
    advised = teacher.teach(env)  # out of view for KEEP steps: the search's turn left, which the image explains
    assert advised is not None and int(np.argmax(advised)) == int(env.actions.turn_left)
    env.close()


def test_a_soft_teacher_keeps_its_sighted_plans_weighted_and_drops_the_blind_ones():
    class Mixed(Rules):  # the rules' plan and a wait at equal weight
        def plans(self, text):
            return [(super().plans(text)[0][0], 0.5), ("wait", 0.5)]

    taught = {}
    for sighted in (False, True):
        env = mw.make_miniworld(PUTNEXT)
        env.reset(seed=3)
        teacher = MiniWorldTeacher(Mixed(PUTNEXT), soft=True, rng=np.random.default_rng(0), sighted=sighted)
        teacher.begin(env)
        taught[sighted] = teacher.teach(env)  # the look-around's turn (sighted) and the wait (blind), half each
        wait = teacher.wait()
        env.close()
    assert taught[False][wait] == pytest.approx(0.5) and taught[False].max() == pytest.approx(0.5)
    sighted = taught[True]
    assert sighted[wait] == 0 and sighted.sum() == pytest.approx(1.0) and sighted.max() == pytest.approx(1.0)
    assert int(np.argmax(sighted)) == int(np.argmax(np.where(np.arange(len(sighted)) == wait, 0, taught[False])))


def test_the_training_envs_leave_blind_steps_untaught_and_teach_the_others_as_the_teacher_advises():
    task = task_config(PUTNEXT)
    groups = [EnvGroup(task["env_id"], [5, 6], [0, 1], TeacherSpec(task, sighted=s)) for s in (True, False)]
    for group in groups:
        group.reset()
    rng, blind, sighted = np.random.default_rng(0), 0, 0
    for _ in range(150):
        actions = rng.integers(0, groups[0].n_actions, size=2)
        for group in groups:
            group.step(actions)
        full, masked = groups[1].arrays["teacher"], groups[0].arrays["teacher"]
        np.testing.assert_array_equal(groups[0].arrays["obs"], groups[1].arrays["obs"])  # the same episodes
        for i in range(2):
            assert full[i].sum() == pytest.approx(1.0)  # the teacher advises every step
            assert groups[0].teachers[i].blind == groups[1].teachers[i].blind
            if groups[0].teachers[i].blind:
                blind += 1
                assert not masked[i].any()
            else:
                sighted += 1
                np.testing.assert_array_equal(masked[i], full[i])
    assert blind > 0 and sighted > blind


def test_a_sighted_run_leaves_some_training_steps_untaught_and_its_warm_start_clones_all_the_advice(tmp_path):
    # the warm start's teacher drives whole episodes: it must advise every step (it raised on a blind one before)
    args = ["train", "--task", PUTNEXT, "--sighted_teacher", "--clone_steps", "100", "--clone_epochs", "1",
            "--logdir", str(tmp_path), "--savedir", "s", "--n_itr", "1", "--num_envs", "2", "--workers", "0",
            "--traj_per_itr", "2", "--batch_size", "32", "--eval_interval", "0", "--video", "0", "--no_progress"]
    assert main.main(args) == 0
    run = tmp_path / "ppo" / PUTNEXT / "s-0"
    assert json.loads((run / "warm_start.json").read_text())["steps"] >= 100
    share = float(read_metrics(run)[0]["Teacher/Taught Share"])
    assert 0.0 < share < 1.0  # the training envs' teacher left its blind steps untaught, and taught the rest


def test_the_flag_is_refused_for_a_grid_task_and_beside_roll_ins_in_one_line(capsys, tmp_path):
    short = ["--max_env_steps", "1", "--logdir", str(tmp_path)]  # were it not refused, a short run
    assert main.main(["train", "--task", "SimpleDoorKey", "--sighted_teacher"] + short) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sighted_teacher" in err[0] and "grid task" in err[0]
    assert main.main(["train", "--task", PUTNEXT, "--sighted_teacher", "--teacher_schedule", "adaptive"] + short) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sighted_teacher" in err[0] and "roll-in" in err[0]
