"""--egocentric: the grid student's map turned and centred on the agent (algos/learner/egocentric.py)."""
import numpy as np
import pytest
import torch

import main
import algos.run.evaluate
import env as env_pkg
from algos.learner.egocentric import NO_AGENT, egocentric, window_size
from tests.helpers import tiny_train_args

AHEAD, RIGHT = {0: (1, 0), 1: (0, 1), 2: (-1, 0), 3: (0, -1)}, {0: (0, 1), 1: (-1, 0), 2: (0, -1), 3: (1, 0)}


def walk(env_id, seed, steps, mission_mark=False):
    """The maps of a random walk (turns, forward, toggles) and the agent's (x, y, direction) at each."""
    env = env_pkg.make_env(env_id, mission_mark=mission_mark)
    obs, _ = env.reset(seed=seed)
    rng, maps, poses = np.random.default_rng(seed), [], []
    for _ in range(steps):
        maps.append(obs)
        poses.append((int(env.agent_pos[0]), int(env.agent_pos[1]), int(env.agent_dir)))
        obs, _, terminated, truncated, _ = env.step(int(rng.choice([0, 1, 2, 2, 5])))
        if terminated or truncated:
            break
    env.close()
    return np.stack(maps), poses


@pytest.mark.parametrize("env_id, mark", [("BabyAI-GoToObjMaze-v0", False), ("MiniGrid-LockedRoom-v0", True)])
def test_every_cell_of_the_window_is_the_maps_cell_at_the_agents_offset(env_id, mark):
    maps, poses = walk(env_id, 3, 150, mark)
    _, w, h, c = maps.shape
    r, s = max(w, h) - 1, window_size(w, h)
    ego = egocentric(torch.from_numpy(maps), c).numpy()  # the whole walk as one batch
    assert ego.shape == (len(maps), s, s, c)
    outside = np.zeros(c, dtype=np.uint8)
    outside[3] = NO_AGENT
    for k in (0, 1, len(maps) // 2, len(maps) - 1):
        x, y, d = poses[k]
        (fx, fy), (rx, ry) = AHEAD[d], RIGHT[d]
        for i in range(s):
            for j in range(s):
                cx, cy = x + fx * (r - j) + rx * (i - r), y + fy * (r - j) + ry * (i - r)
                inside = 0 <= cx < w and 0 <= cy < h
                np.testing.assert_array_equal(ego[k, i, j], maps[k, cx, cy] if inside else outside)
        assert ego[k, r, r, 3] == d  # the agent, at the centre


def test_the_same_situation_turned_or_moved_is_the_same_window():
    """Turning the world a quarter (the agent with it) or widening it with unseen cells changes nothing the
    agent sees: the window is the same, cell for cell (but the agent's own heading, which stays the map's)."""
    maps, _ = walk("BabyAI-GoToObjMaze-v0", 5, 60)
    m = maps[-1]
    w, h, _ = m.shape
    turned = np.empty((h, w, 4), dtype=np.uint8)
    for x in range(w):
        for y in range(h):
            turned[h - 1 - y, x] = m[x, y]  # a quarter turn: east becomes south
    agent = turned[:, :, 3] != NO_AGENT
    turned[agent, 3] = (turned[agent, 3] + 1) % 4
    a, b = egocentric(torch.from_numpy(np.stack([m, turned]))).numpy()
    r = max(w, h) - 1
    assert b[r, r, 3] == (a[r, r, 3] + 1) % 4
    b[r, r, 3] = a[r, r, 3]
    np.testing.assert_array_equal(a, b)
    wide = np.zeros((w + 6, h + 4, 4), dtype=np.uint8)
    wide[:, :, 3] = NO_AGENT
    wide[6:, 1:h + 1] = m
    big = egocentric(torch.from_numpy(wide[None])).numpy()[0]
    rb = max(w + 6, h + 4) - 1
    np.testing.assert_array_equal(big[rb - r:rb + r + 1, rb - r:rb + r + 1], a)


def test_a_stacked_map_is_turned_by_its_newest_frame():
    maps, poses = walk("BabyAI-GoToObjMaze-v0", 7, 40)
    old, new = maps[5], maps[-1]
    stacked = egocentric(torch.from_numpy(np.concatenate([old, new], axis=2)[None]), 4).numpy()[0]
    np.testing.assert_array_equal(stacked[:, :, 4:], egocentric(torch.from_numpy(new[None])).numpy()[0])
    # the older frame seen from where the agent is now: its agent marker moves with the window, not its own pose
    x, y, d = poses[-1]
    r = max(new.shape[:2]) - 1
    assert stacked[r, r, 7] == d and (poses[5][:2] == (x, y) or stacked[r, r, 3] == NO_AGENT)


def test_an_egocentric_student_trains_and_evaluates_so(tmp_path, capsys, monkeypatch):
    assert main.main(tiny_train_args(tmp_path, "ego", n_itr=1, extra=["--egocentric"])) == 0
    run_dir = tmp_path / "ppo" / "SimpleDoorKey" / "ego-0"
    built = []
    real = algos.run.evaluate.build_task_model
    monkeypatch.setattr(algos.run.evaluate, "build_task_model", lambda *a: built.append(real(*a)) or built[-1])
    assert main.main(["eval", "--task", "SimpleDoorKey", "--loaddir", str(run_dir), "--num_eval", "2"]) == 0
    assert built[0].egocentric and not hasattr(built[0], "conv")  # rebuilt from the run's settings
    assert "success rate" in capsys.readouterr().out
