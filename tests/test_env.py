from collections import deque

import gymnasium as gym
import numpy as np
import pytest
from minigrid.minigrid_env import MiniGridEnv

import env
from env.tasks import NO_AGENT, encode_cell

IDS = list(env.ENV_CLASSES)
PAPER_IDS = [i for i in IDS if "Box" not in i]
MAX_STEPS = {i: 100 if "Box" in i else 150 for i in IDS}  # the box tasks: the lab's When2Ask code's 100


def interior(e):
    sx, sy = e.room_size
    return [(x, y) for x in range(1, sx - 1) for y in range(1, sy - 1)]


def doors(e):
    return [(x, y, c) for x in range(e.width) for y in range(e.height)
            if (c := e.grid.get(x, y)) is not None and c.type == "door"]


def objects(e, kind):
    return [(x, y, c) for x in range(e.width) for y in range(e.height)
            if (c := e.grid.get(x, y)) is not None and c.type == kind]


def reachable(e, start, goal):
    """Cells next to `goal` reachable from start through non-blocking cells."""
    seen, todo = {start}, deque([start])
    while todo:
        x, y = todo.popleft()
        if abs(x - goal[0]) + abs(y - goal[1]) == 1:
            return True
        for nx, ny in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
            c = e.grid.get(nx, ny) if 0 <= nx < e.width and 0 <= ny < e.height else None
            if (nx, ny) not in seen and 0 <= nx < e.width and 0 <= ny < e.height and (c is None or c.can_overlap()):
                seen.add((nx, ny))
                todo.append((nx, ny))
    return False


def on_wall_not_corner(e, x, y):
    sx, sy = e.room_size
    on_x_wall = x in (0, sx - 1) and 1 <= y <= sy - 2
    on_y_wall = y in (0, sy - 1) and 1 <= x <= sx - 2
    return on_x_wall or on_y_wall


@pytest.mark.parametrize("env_id", IDS)
def test_gym_make_works_with_official_ids(env_id):
    e = gym.make(env_id)
    obs, _ = e.reset(seed=3)
    assert obs.shape == e.observation_space.shape and obs.dtype == np.uint8
    assert e.unwrapped.max_steps == MAX_STEPS[env_id] and e.unwrapped.agent_view_size == 3


@pytest.mark.parametrize("env_id", [i for i in PAPER_IDS if "TwoDoor" not in i])
def test_small_room_generation_rules(env_id):
    sizes = set()
    for seed in range(150):
        e = env.make_env(env_id)
        e.reset(seed=seed)
        sx, sy = e.room_size
        sizes.add(sx)
        assert 5 <= sx <= 10 and 5 <= sy <= 10 and e.width == e.height == 10
        (dx, dy, door), = doors(e)
        assert door.is_locked and on_wall_not_corner(e, dx, dy)
        keys = objects(e, "key")
        assert all((x, y) in interior(e) for x, y, _ in keys)
        assert tuple(e.agent_pos) in interior(e)
        for x, y, _ in keys:
            assert reachable(e, tuple(e.agent_pos), (x, y))
        if "Colored" in env_id:
            assert door.color == "blue" and sorted(k.color for *_, k in keys) == ["blue", "red"]
            assert all((x, y) != e.door_inside for x, y, _ in keys)
        else:
            assert len(keys) == 1 and keys[0][2].color == door.color
        if "Lava" in env_id:
            (lx, ly, _), = objects(e, "lava")
            assert (lx, ly) in interior(e) and (lx, ly) != e.door_inside
    assert len(sizes) >= 4  # room sizes really vary


def test_twodoor_generation_rules():
    layouts = set()
    for seed in range(60):
        e = env.make_env("MiniGrid-TwoDoor-Min20-Max20")
        e.reset(seed=seed)
        assert e.room_size == (20, 20)
        ds = doors(e)
        assert len(ds) == 2 and ds[0][2].color == ds[1][2].color and all(d.is_locked for *_, d in ds)
        xs, ys = {d[0] for d in ds}, {d[1] for d in ds}
        assert xs == {0, 19} or ys == {0, 19}
        layouts.add("ew" if xs == {0, 19} else "ns")
        (kx, ky, key), = objects(e, "key")
        assert (kx, ky) in {(9, 9), (10, 9), (9, 10), (10, 10)} and key.color == ds[0][2].color
    assert layouts == {"ew", "ns"}


def minigrid_visible(e):
    """Absolute cells minigrid itself says are visible (its own egocentric view + occlusion)."""
    _, vis = MiniGridEnv.gen_obs_grid(e)
    cells = set()
    for x in range(e.width):
        for y in range(e.height):
            v = e.get_view_coords(x, y)
            if 0 <= v[0] < vis.shape[0] and 0 <= v[1] < vis.shape[1] and vis[v[0], v[1]]:
                cells.add((x, y))
    return cells


@pytest.mark.parametrize("env_id,view", [(i, 3) for i in IDS] + [(IDS[0], 5)] + [
    ("MiniGrid-DoorKey-8x8-v0", None), ("MiniGrid-UnlockPickup-v0", None), ("MiniGrid-Fetch-5x5-N2-v0", None)])
def test_memory_matches_minigrid_visibility_and_accumulates(env_id, view):
    # minigrid's own environments keep their view (7) and sight (Fetch sees through walls)
    e = env.make_env(env_id, view_size=view) if view else env.make_env(env_id)
    rng = np.random.default_rng(0)
    for episode in range(3):
        obs, _ = e.reset(seed=episode)
        seen_before = 0
        previous = np.zeros_like(e.seen)
        for _ in range(150):
            visible = minigrid_visible(e)
            newly = {tuple(c) for c in np.argwhere(e.seen & ~previous)}
            assert newly <= visible  # nothing is seen that minigrid would not show
            previous = e.seen.copy()
            ax, ay = e.agent_pos
            for x, y in visible:
                assert e.seen[x, y]
                if (x, y) != (ax, ay):
                    assert tuple(obs[x, y, :3]) == encode_cell(e.grid.get(x, y))
            assert tuple(obs[ax, ay, :3]) == encode_cell(e.carrying)
            assert obs[ax, ay, 3] == e.agent_dir and (obs[:, :, 3] != NO_AGENT).sum() == 1
            assert np.array_equal(obs[:, :, 0] != 0, e.seen)  # unseen cells stay 0
            assert e.seen.sum() >= seen_before
            seen_before = e.seen.sum()
            obs, _, term, trunc, _ = e.step(int(rng.integers(0, 7)))
            if term or trunc:
                break


def test_walls_occlude():
    e = env.make_env("MiniGrid-SimpleDoorKey-Min5-Max10-View3")
    e.reset(seed=0)
    sx, sy = e.room_size
    e.agent_pos, e.agent_dir = np.array((1, 1)), 2  # facing the west wall from the corner
    e.memory.reset()
    obs = e.gen_obs()
    # the wall column x = 0 is seen, nothing behind it (outside the grid) and the far side stays unseen
    assert e.seen[0, 1] and not e.seen[sx - 2, 1]
    assert obs[sx - 2, sy - 2, 0] == 0


def test_opening_the_door_rewards_and_lava_kills():
    e = env.make_env("MiniGrid-SimpleDoorKey-Min5-Max10-View3")
    e.reset(seed=1)
    (dx, dy, door), = doors(e)
    (kx, ky, key), = objects(e, "key")
    e.grid.set(kx, ky, None)
    e.carrying = key
    ix, iy = e.door_inside
    e.agent_pos = np.array((ix, iy))
    e.agent_dir = {(1, 0): 0, (0, 1): 1, (-1, 0): 2, (0, -1): 3}[(dx - ix, dy - iy)]
    e.step_count = 14
    _, reward, terminated, truncated, info = e.step(5)
    assert door.is_open and terminated and not truncated and info["success"]
    assert reward == pytest.approx(1 - 0.9 * 15 / 150)

    e = env.make_env("MiniGrid-LavaDoorKey-Min5-Max10-View3")
    e.reset(seed=2)
    (lx, ly, _), = objects(e, "lava")
    for d, (vx, vy) in enumerate(((1, 0), (0, 1), (-1, 0), (0, -1))):
        px, py = lx - vx, ly - vy
        cell = e.grid.get(px, py)
        if cell is None and (px, py) in interior(e):
            e.agent_pos, e.agent_dir = np.array((px, py)), d
            break
    _, reward, terminated, _, info = e.step(2)
    assert terminated and reward == 0 and not info["success"]
