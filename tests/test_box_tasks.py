"""The lab's two box tasks (KeyInBox, RandomBoxKey): generation rules over many seeds, the box turning into its
content, and success on exactly the toggle that opens the door."""
import numpy as np
import pytest

import env
from tests.test_env import doors, interior, objects, on_wall_not_corner, reachable

KEYINBOX, RANDOMBOXKEY = "MiniGrid-KeyInBox-Min5-Max10-View3", "MiniGrid-RandomBoxKey-Min5-Max10-View3"
FACING = {(1, 0): 0, (0, 1): 1, (-1, 0): 2, (0, -1): 3}


@pytest.mark.parametrize("env_id", [KEYINBOX, RANDOMBOXKEY])
def test_generation_rules(env_id):
    sizes, walls, colours, in_box, box_inside_door = set(), set(), set(), [], 0
    n = 400
    for seed in range(n):
        e = env.make_env(env_id)
        e.reset(seed=seed)
        sx, sy = e.room_size
        sizes.update((sx, sy))
        assert 5 <= sx <= 10 and 5 <= sy <= 10 and e.width == e.height == 10
        assert e.max_steps == 100 and e.agent_view_size == 3 and e.mission == "open the door"
        (dx, dy, door), = doors(e)
        assert door.is_locked and on_wall_not_corner(e, dx, dy)
        walls.add("x" if dx in (0, sx - 1) else "y")
        colours.add(door.color)
        (bx, by, box), = objects(e, "box")
        assert (bx, by) in interior(e) and box.color == door.color
        assert tuple(e.agent_pos) in interior(e) and reachable(e, tuple(e.agent_pos), (bx, by))
        floor_keys = objects(e, "key")
        if e.key_in_box:
            assert not floor_keys and box.contains.type == "key" and box.contains.color == door.color
        else:
            (kx, ky, key), = floor_keys
            assert box.contains is None and key.color == door.color and (kx, ky) in interior(e)
            assert reachable(e, tuple(e.agent_pos), (kx, ky))
        box_inside_door += (bx, by) == e.door_inside
        in_box.append(e.key_in_box)
    assert sizes == set(range(5, 11)) and walls == {"x", "y"} and len(colours) == 6
    if env_id == KEYINBOX:
        assert all(in_box)
    else:
        # the key in the box with probability 1/2: 400 episodes, 4.5 standard deviations (0.1125) either side
        assert abs(np.mean(in_box) - 0.5) < 0.1125
        assert box_inside_door == 0


def face(e, target):
    """Stand on a free interior cell next to `target`, facing it."""
    for (vx, vy), d in FACING.items():
        x, y = target[0] - vx, target[1] - vy
        if (x, y) in interior(e) and e.grid.get(x, y) is None:
            e.agent_pos, e.agent_dir = np.array((x, y)), d
            return
    raise AssertionError("no free cell next to the target")


def test_toggling_the_box_turns_it_into_the_key_and_only_opening_the_door_succeeds():
    e = env.make_env(KEYINBOX)
    for seed in range(20):
        e.reset(seed=seed)
        (bx, by, box), = objects(e, "box")
        (dx, dy, door), = doors(e)
        face(e, (bx, by))
        _, reward, terminated, _, info = e.step(5)                    # toggle the box
        assert e.grid.get(bx, by).type == "key" and reward == 0 and not terminated and not info["success"]
        _, reward, terminated, _, _ = e.step(3)                       # pick up the key
        assert e.carrying is not None and e.carrying.type == "key" and not terminated
        e.grid.set(*e.door_inside, None)
        ix, iy = e.door_inside
        e.agent_pos, e.agent_dir = np.array((ix, iy)), FACING[(dx - ix, dy - iy)]
        steps = e.step_count
        _, reward, terminated, truncated, info = e.step(5)            # toggle the door: open, success
        assert door.is_open and terminated and not truncated and info["success"]
        assert reward == pytest.approx(1 - 0.9 * (steps + 1) / 100)


def test_a_toggle_without_the_key_is_no_success():
    e = env.make_env(RANDOMBOXKEY)
    e.reset(seed=3)
    (dx, dy, door), = doors(e)
    ix, iy = e.door_inside
    e.agent_pos, e.agent_dir = np.array((ix, iy)), FACING[(dx - ix, dy - iy)]
    _, reward, terminated, _, info = e.step(5)
    assert not door.is_open and reward == 0 and not terminated and not info["success"]
