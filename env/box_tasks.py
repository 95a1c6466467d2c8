"""The two box tasks of the same lab's When2Ask code (ZJLAB-AMMI/LLM4RL, env/boxkey.py and env/randomboxkey.py),
written anew on this package's rooms.

Both: a random room of min_size..max_size in a max_size x max_size grid, a locked door of a random colour on a
random wall (not a corner), view 3, at most 100 steps; the episode ends with success on the toggle that opens the
door. A box turns into its content when toggled (minigrid's Box), so a key inside it is then on the floor.
- KeyInBox: the door's key is inside a box of the door's colour.
- RandomBoxKey: with probability 1/2 as KeyInBox, else the key lies on the floor and an empty box of the door's
  colour stands elsewhere; the box is never on the cell just inside the door.
"""
from minigrid.core.constants import COLOR_NAMES
from minigrid.core.world_object import Box, Key

from env.tasks import MemoryEnv


class BoxRoomEnv(MemoryEnv):
    """The rooms of the box tasks (100 steps, as the lab's code: max_size squared)."""

    def __init__(self, max_steps=100, **kwargs):
        super().__init__(max_steps=max_steps, **kwargs)

    def _door_and_colour(self, width, height):
        sx, sy = self._room(width, height)
        color = self._rand_elem(COLOR_NAMES)
        self.door_inside = self._door_on_wall(self._rand_int(0, 4), sx, sy, color)
        return sx, sy, color


class KeyInBoxEnv(BoxRoomEnv):
    """The door's key is inside a box of its colour."""

    def _gen_grid(self, width, height):
        sx, sy, color = self._door_and_colour(width, height)
        self.key_in_box = True
        self._place_inside(Box(color, contains=Key(color)), sx, sy)
        self._place_agent(sx, sy)


class RandomBoxKeyEnv(BoxRoomEnv):
    """The key is in the box (probability 1/2) or on the floor beside an empty box; the box never just inside
    the door."""

    def _gen_grid(self, width, height):
        sx, sy, color = self._door_and_colour(width, height)
        self.key_in_box = bool(self._rand_int(0, 2))
        if self.key_in_box:
            self._place_inside(Box(color, contains=Key(color)), sx, sy, avoid=self.door_inside)
        else:
            self._place_inside(Key(color), sx, sy)
            self._place_inside(Box(color), sx, sy, avoid=self.door_inside)
        self._place_agent(sx, sy)
