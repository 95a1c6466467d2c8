"""The "historical" memory-map observation of any minigrid environment.

obs[x, y, 0:3] is minigrid's (object, colour, state) encoding of every cell seen so far this episode (never-seen
cells stay 0 = "unseen"); the agent's own cell shows what it carries (else empty). obs[x, y, 3] is the agent's
direction at its cell and 4 elsewhere. Each step only the cells in the agent's view (at most view*view), the cell
it left and its own cell are rewritten: the map assumes nothing changes out of the agent's view.

`MemoryObservation` is a mixin that gives a MiniGridEnv this observation (over its own grid size and view size);
`memory_class(cls)` makes the memory-observed version of any MiniGridEnv subclass (e.g. minigrid's DoorKeyEnv).
"""
from functools import lru_cache

import numpy as np
from gymnasium import spaces
from minigrid.core.constants import DIR_TO_VEC, OBJECT_TO_IDX
from minigrid.minigrid_env import MiniGridEnv

from env.mission import mission_mask, mission_targets, target_table

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
    """The memory of one W x H grid seen through a view_size view (occluded by walls and closed doors unless
    see_through_walls)."""

    def __init__(self, width, height, view_size, see_through_walls=False):
        self.width, self.height, self.view_size = width, height, view_size
        self.occlude = not see_through_walls
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
        if self.view_size == 3 and self.occlude:
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
        mask = visible_mask(transparent) if self.occlude else inside
        for col, oks, cs, ms in zip(cells, inside, contents, mask):
            for (x, y), ok, c, m in zip(col, oks, cs, ms):
                if ok and m:
                    obs[x, y, :3] = encode_cell(c)
                    self.seen[x, y] = True


class MemoryObservation:
    """Mixin for a MiniGridEnv: the observation is the (W, H, 4) memory map instead of the egocentric view, and
    info["success"] says whether the episode ended with a positive reward. mission_mark=True adds a fifth channel,
    the cells holding an object the mission names (env.mission)."""

    def __init__(self, *args, mission_mark=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.mission_mark = mission_mark
        self._mark_for = self._targets = None  # the mission the targets were parsed from, and its targets
        channels = 5 if mission_mark else 4
        self.observation_space = spaces.Box(0, 255, (self.width, self.height, channels), dtype=np.uint8)
        self.memory = MemoryMap(self.width, self.height, self.agent_view_size, self.see_through_walls)

    def reset(self, *, seed=None, options=None):
        self.memory.reset()
        return super().reset(seed=seed, options=options)

    def gen_obs(self):
        obs = self.memory.update(self.grid, self.agent_pos, self.agent_dir, self.carrying)
        if not self.mission_mark:
            return obs.copy()
        if self._mark_for != self.mission:
            self._mark_for, self._targets = self.mission, target_table(mission_targets(self.mission))
        out = np.empty(obs.shape[:2] + (5,), dtype=np.uint8)
        out[:, :, :4] = obs
        out[:, :, 4] = mission_mask(obs, self._targets)
        return out

    @property
    def seen(self):
        """Cells seen so far this episode, (W, H) bool."""
        return self.memory.seen

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        info["success"] = bool(terminated and reward > 0)
        return obs, reward, terminated, truncated, info


@lru_cache(maxsize=None)
def memory_class(cls):
    """The memory-observed subclass of a MiniGridEnv subclass (one class per cls)."""
    if not (isinstance(cls, type) and issubclass(cls, MiniGridEnv)):
        raise ValueError(f"{getattr(cls, '__name__', cls)} is not a minigrid MiniGridEnv")
    if issubclass(cls, MemoryObservation):
        return cls
    return type(f"Memory{cls.__name__}", (MemoryObservation, cls), {"__module__": __name__})
