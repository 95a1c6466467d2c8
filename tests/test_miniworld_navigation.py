"""The 3D teacher's walking helpers on its hot path: a straight line tested in one pass over the walls, the
wall-crossing test in plain floats, the floor's free cells and breadth-first searches kept for the steps that ask
them again, each giving what the per-point test, the array test and a fresh computation give."""
import numpy as np
import pytest

from env import miniworld as mw
from teacher.miniworld_navigation import CELL, CLEARS, MEMO, FloorGrid, line_clear
from tests.test_miniworld import PICKUP, PUTNEXT


def line_clear_point_by_point(env, ent):
    """line_clear as one blocked() per point, every 0.2 m along the line."""
    a, held = env.agent, env.agent.carrying
    length = mw.ground_distance(a.pos, ent.pos) - (a.radius + ent.radius)
    direction = (ent.pos - a.pos) / max(mw.ground_distance(a.pos, ent.pos), 1e-9)
    radius = a.radius if held is None else a.radius + 2 * held.radius
    return all(not mw.blocked(env, a.pos + direction * t, radius, ignore=(ent, held))
               for t in np.arange(0.0, length + 1e-9, 0.2))


@pytest.mark.parametrize("task", [PUTNEXT, PICKUP])
def test_a_straight_line_is_clear_exactly_where_every_point_on_it_is(task):
    env = mw.make_miniworld(task)
    rng, outcomes = np.random.default_rng(0), set()
    for seed in range(4):
        env.reset(seed=seed)
        for _ in range(60):  # the agent wanders; every object is a target from where it stands
            env.step(int(rng.integers(env.action_space.n)))
            for _, _, ent in mw.objects(env):
                if ent is not env.agent.carrying:
                    clear = line_clear(env, ent)
                    assert clear == line_clear_point_by_point(env, ent)
                    outcomes.add(clear)
    env.close()
    assert outcomes == {True, False}  # both answers met


def test_a_search_asked_again_is_the_kept_one_and_any_other_is_searched_afresh():
    env = mw.make_miniworld(PUTNEXT)
    env.reset(seed=3)
    grid = FloorGrid(env)
    free = grid.free(env)
    here = grid.cell(env.agent.pos[0], env.agent.pos[2])
    first = grid.distances(free, [here])
    assert grid.distances(free.copy(), [here]) is first  # the same question: the kept answer
    np.testing.assert_array_equal(first, grid._search(free, [here]))
    with pytest.raises(ValueError):
        first[here] = 5  # kept answers cannot be changed by a caller
    walled = free.copy()
    walled[max(0, here[0] - 2):here[0] + 3, here[1] + 2] = False  # a wall beside the agent: another question
    np.testing.assert_array_equal(grid.distances(walled, [here]), grid._search(walled, [here]))
    assert not np.array_equal(grid.distances(walled, [here]), first)
    for k in range(MEMO + 2):  # more questions than are kept: the oldest go, answers stay right
        cells = [(k % grid.shape[0], 0)]
        np.testing.assert_array_equal(grid.distances(free, cells), grid._search(free, cells))
    assert len(grid._distances) == MEMO
    env.close()


def wall_between_as_arrays(env, a, b):
    """wall_between over all segments at once, numpy arrays."""
    segs = env.wall_segs
    p, r = np.array([a[0], a[2]]), np.array([b[0] - a[0], b[2] - a[2]])
    q, s = segs[:, 0][:, [0, 2]], (segs[:, 1] - segs[:, 0])[:, [0, 2]]
    cross = r[0] * s[:, 1] - r[1] * s[:, 0]
    ok = np.abs(cross) > 1e-9
    qp = q - p
    t = np.where(ok, (qp[:, 0] * s[:, 1] - qp[:, 1] * s[:, 0]) / np.where(ok, cross, 1), -1)
    u = np.where(ok, (qp[:, 0] * r[1] - qp[:, 1] * r[0]) / np.where(ok, cross, 1), -1)
    return bool(np.any(ok & (t > 1e-6) & (t < 1 - 1e-6) & (u >= 0) & (u <= 1)))


def test_a_wall_lies_between_two_points_exactly_where_the_array_test_says():
    env = mw.make_miniworld("MiniWorld-FourRooms-v0")  # inner walls: lines across them and lines within a room
    env.reset(seed=0)
    rng, outcomes = np.random.default_rng(0), set()
    for _ in range(2000):
        a, b = (np.array([rng.uniform(env.min_x, env.max_x), 0.0, rng.uniform(env.min_z, env.max_z)])
                for _ in range(2))
        between = mw.wall_between(env, a, b)
        assert between == wall_between_as_arrays(env, a, b)
        outcomes.add(between)
    env.close()
    assert outcomes == {True, False}


def free_afresh(grid, env, ignore=()):
    """FloorGrid.free computed anew: every object's distance grid at once."""
    free = grid.walls_free.copy()
    for ent in env.entities:
        if ent is not env.agent and ent not in ignore:
            d = np.hypot(grid.centres[..., 0] - ent.pos[0], grid.centres[..., 1] - ent.pos[2])
            free &= d >= env.agent.radius + ent.radius - CELL / 2
    free[grid.cell(env.agent.pos[0], env.agent.pos[2])] = True
    return free


def test_free_cells_follow_objects_that_move_and_the_kept_clearances_stay_few():
    env = mw.make_miniworld(PUTNEXT)
    env.reset(seed=5)
    grid, rng, most = FloorGrid(env), np.random.default_rng(0), 0
    others = [e for e in env.entities if e is not env.agent]
    for k in range(300):  # wandering, and now and then an object set down elsewhere
        env.step(int(rng.integers(env.action_space.n)))
        if k % 4 == 0:  # more places than are kept: the kept clearances are let go
            ent = others[int(rng.integers(len(others)))]
            x, z = rng.uniform(env.min_x, env.max_x), rng.uniform(env.min_z, env.max_z)
            ent.pos = np.array([x, ent.pos[1], ent.pos[2]] if k % 8 else [ent.pos[0], ent.pos[1], z])  # along one axis
        held = env.agent.carrying
        np.testing.assert_array_equal(grid.free(env), free_afresh(grid, env))
        np.testing.assert_array_equal(grid.free(env, ignore=(held,)), free_afresh(grid, env, ignore=(held,)))
        assert len(grid._clears) <= CLEARS
        most = max(most, len(grid._clears))
    assert most == CLEARS  # moved objects were kept anew, up to the bound
    env.close()
