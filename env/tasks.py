"""The four LLM4Teach tasks as minigrid environments observed through the "historical" memory map (env.memory).

Every task: a grid of max_size x max_size with a random room (sizes in [min_size, max_size]) at the top-left,
walls around it, the agent at a random free cell with a random direction, mission "open the door". A `toggle`
that opens a locked door ends the episode with minigrid's reward 1 - 0.9 * step_count / max_steps.
"""
from minigrid.core.actions import Actions
from minigrid.core.constants import COLOR_NAMES
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Door, Key, Lava
from minigrid.minigrid_env import MiniGridEnv

from env.memory import EMPTY, NO_AGENT, MemoryMap, MemoryObservation, encode_cell  # noqa: F401 (re-exported)

TOGGLE = int(Actions.toggle)


def _mission():
    return "open the door"


class MemoryEnv(MemoryObservation, MiniGridEnv):
    """The rooms of the LLM4Teach tasks, observed through the memory map."""

    def __init__(self, min_size=5, max_size=10, view_size=3, max_steps=150, **kwargs):
        if not 3 <= min_size <= max_size:
            raise ValueError(f"need 3 <= min_size <= max_size, got {min_size}, {max_size}")
        self.min_size, self.max_size = min_size, max_size
        super().__init__(mission_space=MissionSpace(mission_func=_mission), grid_size=max_size,
                         max_steps=max_steps, agent_view_size=view_size, see_through_walls=False, **kwargs)

    # -- reward on opening the locked door -------------------------------------------------------------------
    def step(self, action):
        door = None
        if action == TOGGLE:
            front = self.grid.get(*self.front_pos)
            if front is not None and front.type == "door" and front.is_locked and not front.is_open:
                door = front
        obs, reward, terminated, truncated, info = super().step(action)
        if door is not None and door.is_open:
            reward, terminated = self._reward(), True
        info["success"] = bool(terminated and reward > 0)
        return obs, reward, terminated, truncated, info

    # -- generation helpers ----------------------------------------------------------------------------------
    def _room(self, width, height):
        self.grid = Grid(width, height)
        sx = self._rand_int(self.min_size, self.max_size + 1)
        sy = self._rand_int(self.min_size, self.max_size + 1)
        self.grid.wall_rect(0, 0, sx, sy)
        self.room_size = (sx, sy)
        return sx, sy

    def _door_on_wall(self, wall, sx, sy, color):
        """Put a locked door at a random non-corner cell of a wall (0 top, 1 bottom, 2 left, 3 right);
        returns the cell just inside the door."""
        if wall in (0, 1):
            x, y = self._rand_int(1, sx - 1), (0 if wall == 0 else sy - 1)
            inside = (x, 1 if wall == 0 else sy - 2)
        else:
            x, y = (0 if wall == 2 else sx - 1), self._rand_int(1, sy - 1)
            inside = (1 if wall == 2 else sx - 2, y)
        self.grid.set(x, y, Door(color, is_locked=True))
        return inside

    def _place_inside(self, obj, sx, sy, avoid=None):
        reject = (lambda env, pos: tuple(pos) == avoid) if avoid is not None else None
        return self.place_obj(obj, top=(0, 0), size=(sx, sy), reject_fn=reject)

    def _place_agent(self, sx, sy):
        self.place_agent(top=(0, 0), size=(sx, sy))
        self.mission = _mission()


class SimpleDoorKeyEnv(MemoryEnv):
    """One locked door on a random wall, one key of its colour somewhere in the room."""

    def _gen_grid(self, width, height):
        sx, sy = self._room(width, height)
        color = self._rand_elem(COLOR_NAMES)
        self.door_inside = self._door_on_wall(self._rand_int(0, 4), sx, sy, color)
        self._place_inside(Key(color), sx, sy)
        self._place_agent(sx, sy)


class LavaDoorKeyEnv(MemoryEnv):
    """SimpleDoorKey plus one lava cell, never on the cell just inside the door."""

    def _gen_grid(self, width, height):
        sx, sy = self._room(width, height)
        color = self._rand_elem(COLOR_NAMES)
        self.door_inside = self._door_on_wall(self._rand_int(0, 4), sx, sy, color)
        self._place_inside(Key(color), sx, sy)
        self._place_inside(Lava(), sx, sy, avoid=self.door_inside)
        self._place_agent(sx, sy)


class ColoredDoorKeyEnv(MemoryEnv):
    """A blue locked door, a blue key and a red key, neither key just inside the door."""

    def _gen_grid(self, width, height):
        sx, sy = self._room(width, height)
        self.door_inside = self._door_on_wall(self._rand_int(0, 4), sx, sy, "blue")
        self._place_inside(Key("blue"), sx, sy, avoid=self.door_inside)
        self._place_inside(Key("red"), sx, sy, avoid=self.door_inside)
        self._place_agent(sx, sy)


class TwoDoorEnv(MemoryEnv):
    """A big room with two locked doors of one colour on opposite walls; the key near the centre."""

    def __init__(self, min_size=20, max_size=20, **kwargs):
        super().__init__(min_size=min_size, max_size=max_size, **kwargs)

    def _gen_grid(self, width, height):
        sx, sy = self._room(width, height)
        color = self._rand_elem(COLOR_NAMES)
        walls = (3, 2) if self._rand_int(0, 2) == 0 else (1, 0)  # east + west, or south + north
        self.door_inside = [self._door_on_wall(w, sx, sy, color) for w in walls]
        kx, ky = sx // 2 - 1 + self._rand_int(0, 2), sy // 2 - 1 + self._rand_int(0, 2)
        self.put_obj(Key(color), kx, ky)
        self._place_agent(sx, sy)
