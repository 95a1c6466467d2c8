"""--mission_mark: the mission's objects as a fifth channel of a grid task's memory map (env/mission.py)."""
import numpy as np
import torch

import main
import algos.run.evaluate
import env as env_pkg
from env.mission import mission_targets
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX
from tests.helpers import tiny_train_args

O, C = OBJECT_TO_IDX, COLOR_TO_IDX


def test_the_objects_a_mission_names():
    assert mission_targets("go to the grey key") == [(O["key"], C["grey"])]
    assert mission_targets("get the yellow key from the grey room, unlock the yellow door and go to the goal") == \
        [(O["key"], C["yellow"]), (O["door"], C["yellow"]), (O["goal"], None)]
    assert mission_targets("put the red ball next to the red ball") == [(O["ball"], C["red"])]
    assert mission_targets("use the key to open the door and then get to the goal") == \
        [(O["key"], None), (O["door"], None), (O["goal"], None)]
    assert mission_targets("traverse the rooms to get to the goal") == [(O["goal"], None)]
    assert mission_targets("avoid the walls") == []  # the map's own cell kinds are never targets


def test_the_mark_is_where_the_map_shows_the_missions_object():
    """GoToObjMaze (a target and a distractor, the mission naming the target): with the mark the first four channels
    are the plain map, step for step, and the fifth is 1 exactly on the seen cells of BabyAI's own target objects."""
    seen_targets = 0
    for seed in range(6):
        marked = env_pkg.make_env("BabyAI-GoToObjMaze-v0", mission_mark=True)
        plain = env_pkg.make_env("BabyAI-GoToObjMaze-v0")
        obs, _ = marked.reset(seed=seed)
        ref, _ = plain.reset(seed=seed)
        assert obs.shape == marked.observation_space.shape == ref.shape[:2] + (5,)
        targets = {tuple(int(v) for v in pos) for pos in marked.instrs.desc.obj_poss}
        rng = np.random.default_rng(seed)
        for _ in range(400):
            expected = np.zeros(obs.shape[:2], dtype=np.uint8)
            for x, y in targets:
                expected[x, y] = marked.seen[x, y]
            agent = tuple(int(v) for v in marked.agent_pos)
            if agent not in targets:  # the agent's own cell shows what it carries (nothing here: GoTo picks nothing)
                expected[agent] = 0
            np.testing.assert_array_equal(obs[:, :, :4], ref)
            np.testing.assert_array_equal(obs[:, :, 4], expected)
            seen_targets += int(expected.sum())
            action = int(rng.choice([0, 1, 2, 2, 5]))  # turn, forward, open doors (never pick up)
            obs, _, terminated, truncated, _ = marked.step(action)
            ref, *_ = plain.step(action)
            if terminated or truncated:
                break
        marked.close()
        plain.close()
    assert seen_targets > 0  # the walks did see a target


def test_a_marked_student_trains_and_evaluates_with_its_mark(tmp_path, capsys, monkeypatch):
    assert main.main(tiny_train_args(tmp_path, "mark", n_itr=1, extra=["--mission_mark"])) == 0
    run_dir = tmp_path / "ppo" / "SimpleDoorKey" / "mark-0"
    assert torch.load(run_dir / "checkpoints" / "latest.pt", weights_only=True)["obs_shape"] == [10, 10, 5]
    built = []
    real = algos.run.evaluate.build_task_model
    monkeypatch.setattr(algos.run.evaluate, "build_task_model", lambda *a: built.append(real(*a)) or built[-1])
    assert main.main(["eval", "--task", "SimpleDoorKey", "--loaddir", str(run_dir), "--num_eval", "2"]) == 0
    assert built[0].obs_shape == (10, 10, 5)  # evaluation's envs carry the mark the student was trained with
    assert "success rate" in capsys.readouterr().out
