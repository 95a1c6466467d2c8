"""The 3D teacher's walking helpers on its hot path: a straight line tested in one pass over the walls, and the
floor's breadth-first searches kept for the steps that ask them again, both giving what the per-point test and a
fresh search give."""
import numpy as np
import pytest

from env import miniworld as mw
from teacher.miniworld_navigation import MEMO, FloorGrid, line_clear
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
