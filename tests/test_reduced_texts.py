"""Reduced observation texts (teacher/reduced_text.py, --teacher_texts): what a plan needs and nothing else, the
names the teacher's options act on, which tasks and runs use them, and what they cost and keep on real episodes."""
import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest

import env as env_pkg
import main
from algos.experiments.texts import random_walk
from planner.base import Planner
from planner.task_spec import task_config, texts_task
from teacher.config import TeacherConfig
from teacher.mediator import Mediator, restore_colours
from teacher.policy import TeacherSpec
from tests.grids import make_obs
from tests.scripted_planner import ScriptedPlanner, teacher_alone_wins
from utils.errors import UserError


def describe(rows, mission, carrying=None):
    m = Mediator("minigrid_reduced")
    m.reset(mission)
    return m.describe(make_obs(rows, carrying))


def test_colours_are_named_where_they_matter_and_the_rest_left_out():
    rows = ["##########",
            "#>.k.b.g.#",
            "#..o....G#",
            "##B#R#C#O#"]
    d = describe(rows, "pick up the green ball")
    # green: the mission's; blue: a key and a locked door of that colour; yellow key and red door: paired colours
    # too (keys and locked doors both seen); the closed and open yellow doors: no mission colour (open: left out);
    # the grey ball: the mission names balls; the goal: never coloured
    assert d.text == ("Mission: pick up the color1 ball. Agent sees <color2 key>, <color3 key>, <ball>, <color1 ball>, "
                      "<closed door>, <locked color2 door>, <locked color4 door>, <goal>, holds <nothing>.")
    assert d.colour_map == {"color1": "green", "color2": "blue", "color3": "yellow", "color4": "red"}
    assert d.objects["closed door"] == (6, 3) and "open yellow door" not in d.objects and d.objects["goal"] == (8, 2)
    assert restore_colours("go to <color2 key>, pick up <color2 key>", d.colour_map) == \
        "go to <blue key>, pick up <blue key>"


def test_without_a_key_and_a_locked_door_colours_stay_unnamed_and_balls_only_where_they_block():
    d = describe(["######", "#o.>.#", "#B####"], "go to the goal")
    assert d.text == "Mission: go to the goal. Agent sees <ball> (blocks a door), <locked door>, holds <nothing>."
    assert describe(["#######", "#.>.g.#", "#######"], "go to the goal").text == \
        "Mission: go to the goal. Agent sees <nothing>, holds <nothing>."  # a ball in the way of nothing
    held = describe(["#####", "#>.R#", "#####"], "open the door", carrying="r")
    assert held.text == "Mission: open the door. Agent sees <locked color1 door>, holds <color1 key>."
    assert held.carried == "red key" and held.colour_map == {"color1": "red"}


def test_objects_of_one_name_are_the_nearest_and_the_order_does_not_follow_appearance():
    d = describe(["########", "#C..>.C#", "########"], "traverse the rooms")
    assert d.text == "Mission: traverse the rooms. Agent sees <closed door>, holds <nothing>."
    assert d.objects == {"closed door": (6, 1)}
    m = Mediator("minigrid_reduced")
    m.reset("get the yellow key")
    first = m.describe(make_obs(["#######", "#>.C.B#", "#######"])).text
    m.reset("get the yellow key")
    m.describe(make_obs(["#######", "#>.?.B#", "#######"]))  # the blue door seen first this time
    assert m.describe(make_obs(["#######", "#>.C.B#", "#######"])).text == first


def test_live_llm_runs_of_tasks_with_reduced_texts_use_them_and_nothing_else_changes():
    generic, paper = task_config("MiniGrid-LockedRoom-v0"), task_config("SimpleDoorKey")
    assert texts_task(generic, "auto", live=True)["object_names"] == "minigrid_reduced"
    assert texts_task(generic, "auto", live=True)["prompt"] == "minigrid_reduced"
    assert texts_task(generic, "auto", live=False) is generic          # recorded answers: the full texts
    assert texts_task(generic, "full", live=True) is generic
    assert texts_task(generic, "reduced", live=False)["object_names"] == "minigrid_reduced"
    assert texts_task(paper, "auto", live=True) is paper                 # no reduced texts: unchanged
    with pytest.raises(UserError, match="has no reduced texts"):
        texts_task(paper, "reduced", live=False)
    live = TeacherConfig(llm_url="http://127.0.0.1:9/v1")
    assert TeacherSpec(generic, live).task["object_names"] == "minigrid_reduced"
    again = dataclasses.replace(TeacherSpec(generic, live), nonblocking=True)  # as training's envs get it
    assert again.task == TeacherSpec(generic, live).task and again.task["full_object_names"] == "minigrid"
    assert TeacherSpec(generic, TeacherConfig()).task["object_names"] == "minigrid"


def test_reduced_texts_of_a_task_without_them_are_refused_in_one_line(tmp_path, capsys):
    code = main.main(["train", "--task", "SimpleDoorKey", "--teacher_texts", "reduced", "--logdir", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "has no reduced texts" in err[0]
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("task", ["MiniGrid-LockedRoom-v0", "MiniGrid-MultiRoom-N4-S5-v0",
                                  "MiniGrid-ObstructedMaze-2Dlh-v0", "BabyAI-GoToObjMaze-v0",
                                  "MiniGrid-KeyCorridorS3R3-v0"])
def test_reduced_texts_keep_what_the_plan_needs_with_far_fewer_texts(task):
    """The teacher alone with the scripted correct planner on the same 30 held-out episodes (env seeds
    2,000,000+), full texts and reduced: as many successes, and far fewer texts asked."""
    results = {}
    for texts in ("full", "reduced"):
        cfg = texts_task(task_config(task), texts, live=False) if texts == "reduced" else task_config(task)
        planner = ScriptedPlanner()
        wins = teacher_alone_wins(TeacherSpec(cfg).make_teacher(planner, 0), cfg["env_id"], 30)
        results[texts] = (wins, len(planner.texts))
    (full_wins, full_texts), (wins, texts) = results["full"], results["reduced"]
    assert full_wins > 0 and wins >= full_wins and texts < full_texts


def test_a_random_walk_shows_a_fraction_of_the_texts_reduced():
    full = random_walk("MiniGrid-LockedRoom-v0", 4_000, texts="full")
    reduced = random_walk("MiniGrid-LockedRoom-v0", 4_000, texts="reduced")
    assert full.visits == reduced.visits and reduced.distinct * 4 < full.distinct


def test_two_teachers_agreement_on_the_same_observations():
    from algos.experiments.teacher_agreement import agreement, pooled
    seeds = [2_000_000 + i for i in range(5)]
    task = task_config("SimpleDoorKey")
    alike = agreement(task, TeacherConfig(answers="official"), TeacherConfig(answers="official"), seeds)
    assert alike.successes == 5 and alike.steps > 5 and alike.same_action == 1.0 and alike.mean_tv == 0.0
    assert alike.texts_a == alike.texts_b > 1
    other = agreement(task, TeacherConfig(answers="official"), TeacherConfig(answers="gemma3-270m"), seeds)
    assert (other.steps, other.successes) == (alike.steps, alike.successes)  # the same teacher drives
    assert 0.0 < other.mean_tv < 0.5  # the two tables' plan probabilities differ a little on these texts
    apart = agreement(task_config("ColoredDoorKey"), TeacherConfig(answers="official"),
                      TeacherConfig(answers="gemma3-270m"), seeds)
    assert apart.same_action < 0.9 and apart.mean_tv > 0.1
    same, tv = pooled(alike, apart)  # weighted by each one's steps
    assert abs(same * (alike.steps + apart.steps) - (alike.steps + apart.same_action * apart.steps)) < 1e-6
    assert abs(tv * (alike.steps + apart.steps) - apart.mean_tv * apart.steps) < 1e-6


def test_the_full_texts_taught_through_reduced_ones_are_counted():
    from algos.vec_env.env_group import EnvGroup
    task = texts_task(task_config("MiniGrid-LockedRoom-v0"), "reduced", live=False)
    planner = ScriptedPlanner()
    teacher = TeacherSpec(task).make_teacher(planner, 0)
    e = env_pkg.make_env(task["env_id"])
    obs, _ = e.reset(seed=2_000_000)
    teacher.begin(e)
    for _ in range(60):
        obs, *_ = e.step(int(np.argmax(teacher.teach(e, obs))))
    assert len(planner.texts) < len(teacher.full_taught)  # each reduced text stood for several full ones
    assert not any(t in planner.texts for t in teacher.full_taught)
    for spec, counted in ((ScriptedSpec(task), True), (ScriptedSpec(task_config("MiniGrid-LockedRoom-v0")), False)):
        group = EnvGroup(task["env_id"], [0, 1], [0, 1], spec)
        try:
            group.reset()
            for _ in range(20):
                group.step(np.full(2, 2, dtype=np.int64))  # forward
            stats = group.planner_stats()
            if counted:  # only where texts are reduced: the full texts of both envs' taught observations
                assert stats["generalised_texts"] == len(set().union(*(t.full_taught for t in group.teachers))) > 1
            else:
                assert "generalised_texts" not in stats
        finally:
            group.close()


class Scripted(ScriptedPlanner, Planner):
    """The scripted planner with the Planner interface's stats() and close()."""


@dataclass
class ScriptedSpec(TeacherSpec):
    def make_planner(self):
        return Scripted()


def test_a_teacher_measured_on_reduced_texts_is_told_apart_from_one_on_full_texts():
    from algos.run.teacher_eval import teacher_identity
    live = {"task": "MiniGrid-LockedRoom-v0", "llm_url": "http://127.0.0.1:9/v1"}
    assert teacher_identity(dict(live, teacher_texts="auto"))["texts"] == "reduced"
    assert "texts" not in teacher_identity(dict(live, teacher_texts="full"))
    assert "texts" not in teacher_identity(live)  # a config.json from before the setting: full texts
    assert "texts" not in teacher_identity(dict(live, task="SimpleDoorKey", teacher_texts="auto"))
    assert "texts" not in teacher_identity({"task": "MiniGrid-LockedRoom-v0", "teacher_texts": "auto"})  # recorded
