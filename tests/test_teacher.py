import numpy as np
import pytest

import env
from planner.base import RecordedPlanner
from teacher.mediator import Mediator, Option, agent_state
from teacher.policy import OptionPolicies, TeacherPolicy, sample_actions
from tests.grids import make_obs
from tests.path_oracle import ArrayPaths
from planner.task_spec import load_recorded_answers, task_config

LEFT, RIGHT, FORWARD, PICKUP, DROP, TOGGLE, DONE = range(7)


def act(rows, option, carrying=None, rule="plain", **kw):
    """The option's action on a hand-drawn map, asserted equal with the bitboard engine and the array oracle."""
    obs = make_obs(rows, carrying)
    agent = agent_state(obs)
    desc = Mediator(rule).describe(obs, agent)
    action = OptionPolicies(**kw).act(obs, agent, option, desc)
    assert OptionPolicies(paths=ArrayPaths(), **kw).act(obs, agent, option, desc) == action
    return action


class FixedPlanner:
    def __init__(self, plans):
        self._plans = plans

    def plans(self, text):
        return self._plans

    def stats(self):
        return {}


ROOM = ["#######",
        "#.....#",
        "#.###.#",
        "#>#k#.#",
        "#.....#",
        "#######"]


def test_goto_follows_a_shortest_path():
    # the key at (3, 3) is boxed in on three sides: the only goal pose is (3, 4) facing north.
    # From (1, 3) facing east (a wall ahead) the path south-around is shorter than north-around.
    assert act(ROOM, Option("goto", "key")) == RIGHT
    south = [r.replace(">", "v") for r in ROOM]
    assert act(south, Option("goto", "key")) == FORWARD
    # already next to it and facing it: finished
    there = ["#######", "#.....#", "#.###.#", "#.#k#.#", "#..^..#", "#######"]
    assert act(there, Option("goto", "key")) == "done"
    # walled off: no path, so no action
    assert act(["#####", "#>#k#", "#####"], Option("goto", "key")) is None


def test_goto_goes_through_lava_only_when_allowed():
    rows = ["#######", "#>L.k.#", "#######"]
    assert act(rows, Option("goto", "key")) == FORWARD  # official: lava counts as walkable
    assert act(rows, Option("goto", "key"), goto_through_lava=False) is None


def test_primitive_options_and_unknown_objects():
    rows = ["#####", "#>k.#", "##D##"]
    assert act(rows, Option("pickup", "key")) == PICKUP
    assert act(rows, Option("toggle", "door")) == TOGGLE
    assert act(rows, Option("pickup", "handle")) == DONE  # never-seen object: wait
    assert act(rows, Option("goto", "east")) == DONE
    assert act(rows, Option("wait", None)) == DONE
    assert act(["#####", "#>..#", "#####"], Option("drop", "key"), carrying="k") == DROP
    assert act(["#####", "#>..#", "#####"], Option("goto", "key"), carrying="k") == "done"  # holding it


def test_explore_heads_for_unseen_space_and_finishes_when_all_is_seen():
    rows = ["#######", "#<...??", "#######"]
    assert act(rows, Option("explore", None)) in (LEFT, RIGHT)  # turn around towards the unseen cells
    rows = ["#######", "#>...??", "#######"]
    assert act(rows, Option("explore", None)) == FORWARD
    assert act(["#####", "#>..#", "#####"], Option("explore", None)) == "done"
    # unseen cells behind walls only are not worth exploring
    assert act(["#####?", "#>..#?", "#####?"], Option("explore", None)) == "done"


def test_plan_walks_options_until_one_acts():
    rows = ["#####", "#>k.#", "##D##"]
    obs = make_obs(rows)
    teacher = TeacherPolicy(FixedPlanner([("go to <key>, pick up <key>", 1.0)]), "plain")
    assert np.argmax(teacher(obs)) == PICKUP  # go-to is finished (facing the key) -> pick up
    teacher = TeacherPolicy(FixedPlanner([("explore", 1.0)]), "plain")
    all_seen = make_obs(["#####", "#>..#", "#####"])
    assert np.argmax(teacher(all_seen)) == DONE  # nothing acts: done


def test_soft_teacher_mixes_plans_and_hard_teacher_samples_them():
    obs = make_obs(["#####", "#>k.#", "##D##"])
    plans = [("pick up <key>", 0.7), ("open <door>", 0.2), ("use <key>", 0.1)]
    soft = TeacherPolicy(FixedPlanner(plans), "plain", soft=True)(obs)
    assert soft.dtype == np.float32 and soft.sum() == pytest.approx(1.0)
    assert soft[PICKUP] == pytest.approx(0.7) and soft[TOGGLE] == pytest.approx(0.2) and soft[DONE] == pytest.approx(0.1)
    hard = TeacherPolicy(FixedPlanner(plans), "plain", rng=np.random.default_rng(0))
    picks = np.array([hard(obs) for _ in range(2000)])
    assert set(np.unique(picks)) == {0.0, 1.0} and np.all(picks.sum(1) == 1)
    freq = picks.mean(0)
    assert abs(freq[PICKUP] - 0.7) < 0.04 and abs(freq[TOGGLE] - 0.2) < 0.04


def test_sample_actions_is_the_inverse_cdf_of_one_draw_per_row():
    """One draw per distribution (rng.random of shape (n, 1), or one float for a list), the index of the first
    cumulative sum reaching draw x total; a row of zeros (no teacher) is -1."""
    rows = np.array([[0, 0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0], [.2, .3, 0, .5, 0, 0, 0]], np.float32)
    r = np.random.default_rng(4).random((3, 1))[:, 0]
    rng = np.random.default_rng(4)
    got = sample_actions(rows, rng)
    assert got.tolist() == [2, -1, 0 if r[2] < .2 else 1 if r[2] < .5 else 3]
    assert rng.random() == np.random.default_rng(4).random(4)[3]  # three numbers used, no more
    np.random.seed(5)
    assert sample_actions(rows, np.random.random).tolist() == sample_actions(rows, np.random.RandomState(5)).tolist()
    weights = (0.7, 0.2, 0.1)  # a list: the same choice as its array, one float drawn
    a, b = np.random.default_rng(6), np.random.default_rng(6)
    assert [sample_actions(weights, a) for _ in range(50)] == [int(sample_actions(np.array(weights), b))
                                                                for _ in range(50)]
    assert a.random() == b.random()


@pytest.mark.parametrize("task", ["SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey", "TwoDoor"])
@pytest.mark.parametrize("soft", [False, True])
def test_cached_teacher_equals_from_scratch_teacher(task, soft):
    """>= 1,000 states per task from random walks: the teacher on cached bitboard fields gives the distributions
    of a teacher searching from scratch on plain arrays (tests/path_oracle.py)."""
    cfg = task_config(task)
    table = load_recorded_answers(cfg)
    e = env.make_env(cfg["env_id"])
    cached = TeacherPolicy(RecordedPlanner(table), cfg["object_names"], soft=soft, rng=np.random.default_rng(1))
    scratch = TeacherPolicy(RecordedPlanner(table), cfg["object_names"], soft=soft, rng=np.random.default_rng(1),
                            paths=ArrayPaths())
    rng = np.random.default_rng(2)
    states = 0
    while states < 1000:
        obs, _ = e.reset(seed=states)
        cached.reset()
        scratch.reset()
        for _ in range(150):
            p, q = cached(obs), scratch(obs)
            assert np.array_equal(p, q)
            assert p.shape == (7,) and p.sum() == pytest.approx(1.0) and (p >= 0).all()
            states += 1
            # mostly follow the teacher so that go-to paths and object pick-ups are exercised
            action = int(np.argmax(p)) if rng.random() < 0.7 else int(rng.integers(0, 7))
            obs, _, term, trunc, _ = e.step(action)
            if term or trunc:
                break
    assert cached.options.paths.hits > 0
