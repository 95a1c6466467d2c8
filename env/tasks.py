"""The four LLM4Teach tasks as minigrid environments observed through the "historical" memory map.

Every task: a grid of max_size x max_size with a random room (sizes in [min_size, max_size]) at the top-left,
walls around it, the agent at a random free cell with a random direction, mission "open the door". A `toggle`
that opens a locked door ends the episode with minigrid's reward 1 - 0.9 * step_count / max_steps.

The observation, updated incrementally: obs[x, y, 0:3] is minigrid's (object, colour, state) encoding of every cell
seen so far this episode (never-seen cells stay 0 = "unseen"); the agent's own cell shows what it carries (else
empty). obs[x, y, 3] is the agent's direction at its cell and 4 elsewhere. Each step only the cells in the agent's
view (at most view*view), the cell it left and its own cell are rewritten: nothing else in the grid can change
without being in view.
"""
import numpy as np
from gymnasium import spaces
from minigrid.core.actions import Actions
from minigrid.core.constants import COLOR_NAMES, DIR_TO_VEC, OBJECT_TO_IDX
from minigrid.core.grid import Grid
from minigrid.core.mission import MissionSpace
from minigrid.core.world_object import Door, Key, Lava
from minigrid.minigrid_env import MiniGridEnv

EMPTY = (OBJECT_TO_IDX["empty"], 0, 0)
NO_AGENT = 4


def encode_cell(cell):
    return EMPTY if cell is None else cell.encode()


def view_cells(agent_pos, agent_dir, view_size):
    """Absolute (x, y) of each cell of the agent's view, indexed [vx][vy] like minigrid's egocentric view
    (the agent sits at (view_size // 2, view_size - 1), looking towards vy = 0)."""
    ax, ay = agent_pos
    dx, dy = DIR_TO_VEC[agent_dir]
    rx, ry = -dy, dx
    half = view_size // 2
    return [[(ax + dx * (view_size - 1 - vy) + rx * (vx - half), ay + dy * (view_size - 1 - vy) + ry * (vx - half))
             for vy in range(view_size)] for vx in range(view_size)]


def visible_mask(transparent):
    """minigrid's occlusion rule (Grid.process_vis) on an egocentric view given as transparent[vx][vy]."""
    size = len(transparent)
    mask = [[False] * size for _ in range(size)]
    mask[size // 2][size - 1] = True
    for j in reversed(range(size)):
        for i in range(size - 1):
            if mask[i][j] and transparent[i][j]:
                mask[i + 1][j] = True
                if j > 0:
                    mask[i + 1][j - 1] = True
                    mask[i][j - 1] = True
        for i in reversed(range(1, size)):
            if mask[i][j] and transparent[i][j]:
                mask[i - 1][j] = True
                if j > 0:
                    mask[i - 1][j - 1] = True
                    mask[i][j - 1] = True
    return mask


def _view3_offsets():
    """For a 3x3 view and each direction: (dx, dy) of the near cells (always visible) and, per far cell, its
    (dx, dy) and the middle-row cells that must let light through for it to be visible (minigrid's rule)."""
    table = []
    for d in range(4):
        cells = view_cells((0, 0), d, 3)  # cells[vx][vy]; vy = 0 is the far row
        near = [cells[vx][vy] for vx in range(3) for vy in (1, 2)]
        far = [(cells[vx][0], [cells[m][1] for m in (vx - 1, vx, vx + 1) if 0 <= m < 3]) for vx in range(3)]
        table.append((near, far))
    return table


VIEW3 = _view3_offsets()


class MemoryMap:
    def __init__(self, width, height, view_size):
        self.width, self.height, self.view_size = width, height, view_size
        self.obs = np.zeros((width, height, 4), dtype=np.uint8)
        self.seen = np.zeros((width, height), dtype=bool)
        self.agent_cell = None

    def reset(self):
        self.obs[:, :, :3] = 0
        self.obs[:, :, 3] = NO_AGENT
        self.seen[:] = False
        self.agent_cell = None

    def update(self, grid, agent_pos, agent_dir, carrying):
        """Record what the agent sees now; returns the observation array (owned by the map, updated in place)."""
        obs = self.obs
        if self.agent_cell is not None:  # the cell just left shows its real content again
            px, py = self.agent_cell
            obs[px, py, :3] = encode_cell(grid.get(px, py))
            obs[px, py, 3] = NO_AGENT
        if self.view_size == 3:
            self._see3(grid, int(agent_pos[0]), int(agent_pos[1]), agent_dir)
        else:
            self._see(grid, agent_pos, agent_dir)
        ax, ay = int(agent_pos[0]), int(agent_pos[1])
        obs[ax, ay, :3] = encode_cell(carrying)
        obs[ax, ay, 3] = agent_dir
        self.seen[ax, ay] = True
        self.agent_cell = (ax, ay)
        return obs

    def _see3(self, grid, ax, ay, agent_dir):
        """The 3x3 view without building the egocentric grid: same cells as minigrid's process_vis."""
        obs, seen, w, h, cells = self.obs, self.seen, self.width, self.height, grid.grid
        near, far = VIEW3[agent_dir]
        for dx, dy in near:
            x, y = ax + dx, ay + dy
            if 0 <= x < w and 0 <= y < h:
                c = cells[y * w + x]
                obs[x, y, :3] = EMPTY if c is None else c.encode()
                seen[x, y] = True
        for (dx, dy), lights in far:
            x, y = ax + dx, ay + dy
            if not (0 <= x < w and 0 <= y < h):
                continue
            for lx, ly in lights:
                mx, my = ax + lx, ay + ly
                if 0 <= mx < w and 0 <= my < h:
                    m = cells[my * w + mx]
                    if m is None or m.see_behind():
                        c = cells[y * w + x]
                        obs[x, y, :3] = EMPTY if c is None else c.encode()
                        seen[x, y] = True
                        break

    def _see(self, grid, agent_pos, agent_dir):
        """Any view size: minigrid's occlusion rule on the egocentric view, mapped back to the grid."""
        obs, w, h = self.obs, self.width, self.height
        cells = view_cells(agent_pos, agent_dir, self.view_size)
        inside = [[0 <= x < w and 0 <= y < h for (x, y) in col] for col in cells]
        contents = [[grid.get(x, y) if ok else None for (x, y), ok in zip(col, oks)] for col, oks in zip(cells, inside)]
        # Outside the grid counts as wall (minigrid's slice does the same), so it blocks sight.
        transparent = [[ok and (c is None or c.see_behind()) for c, ok in zip(col, oks)]
                       for col, oks in zip(contents, inside)]
        mask = visible_mask(transparent)
        for col, oks, cs, ms in zip(cells, inside, contents, mask):
            for (x, y), ok, c, m in zip(col, oks, cs, ms):
                if ok and m:
                    obs[x, y, :3] = encode_cell(c)
                    self.seen[x, y] = True


TOGGLE = int(Actions.toggle)


def _mission():
    return "open the door"


class MemoryEnv(MiniGridEnv):
    """A MiniGridEnv whose observation is the (W, H, 4) memory map instead of the egocentric view."""

    def __init__(self, min_size=5, max_size=10, view_size=3, max_steps=150, **kwargs):
        if not 3 <= min_size <= max_size:
            raise ValueError(f"need 3 <= min_size <= max_size, got {min_size}, {max_size}")
        self.min_size, self.max_size = min_size, max_size
        super().__init__(mission_space=MissionSpace(mission_func=_mission), grid_size=max_size,
                         max_steps=max_steps, agent_view_size=view_size, see_through_walls=False, **kwargs)
        self.observation_space = spaces.Box(0, 255, (max_size, max_size, 4), dtype=np.uint8)
        self.memory = MemoryMap(max_size, max_size, view_size)

    # -- observation ---------------------------------------------------------------------------------------
    def reset(self, *, seed=None, options=None):
        self.memory.reset()
        return super().reset(seed=seed, options=options)

    def gen_obs(self):
        return self.memory.update(self.grid, self.agent_pos, self.agent_dir, self.carrying).copy()

    @property
    def seen(self):
        """Cells seen so far this episode, (W, H) bool."""
        return self.memory.seen

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
