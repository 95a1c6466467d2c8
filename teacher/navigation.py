"""Shortest paths over agent poses (x, y, direction) with the moves turn-left, turn-right, forward.

A distance field is computed backwards from a set of goal poses by a breadth-first search vectorised over the
whole grid; the first action of a shortest path is then a lookup (ties: forward, then left, then right). Fields
depend only on the walkable map and the goals, so they are cached on exactly those bytes: while the agent
walks through known space the teacher does no search at all.
"""
from collections import OrderedDict

import numpy as np
from minigrid.core.constants import DIR_TO_VEC, OBJECT_TO_IDX

LEFT, RIGHT, FORWARD = 0, 1, 2
UNSEEN, WALL, DOOR, LAVA = OBJECT_TO_IDX["unseen"], OBJECT_TO_IDX["wall"], OBJECT_TO_IDX["door"], OBJECT_TO_IDX["lava"]
EMPTY = OBJECT_TO_IDX["empty"]
WALKABLE = np.zeros(256, dtype=bool)
WALKABLE[[OBJECT_TO_IDX[k] for k in ("empty", "floor", "goal", "lava")]] = True
DIRS = [tuple(int(v) for v in DIR_TO_VEC[d]) for d in range(4)]


def shift_from(arr, dx, dy, fill=False):
    """out[x, y] = arr[x + dx, y + dy] (fill outside the grid)."""
    out = np.full_like(arr, fill)
    w, h = arr.shape
    out[max(0, -dx):w - max(0, dx), max(0, -dy):h - max(0, dy)] = arr[max(0, dx):w + min(0, dx), max(0, dy):h + min(0, dy)]
    return out


def walkable_cells(kind, state, lava_ok):
    """Cells the agent may step into, from the object and state channels of the memory map."""
    walk = WALKABLE[kind] | ((kind == DOOR) & (state == 0))
    if not lava_ok:
        walk &= kind != LAVA
    return walk


def opaque_cells(kind, state):
    """Cells that block sight: walls and closed doors."""
    return (kind == WALL) | ((kind == DOOR) & (state != 0))


def walkable_map(obs, agent, lava_ok):
    """Walkable cells as known from the memory map; the agent's own cell is always walkable."""
    walk = walkable_cells(obs[:, :, 0], obs[:, :, 2], lava_ok)
    walk[agent[0], agent[1]] = True
    return walk


def distance_field(walk, goals, stop_at=None):
    """dist[d, x, y]: moves from pose (x, y, d) to the nearest goal pose (-1: unreachable).
    With stop_at=(x, y, d) the search ends as soon as that pose is reached (enough for its first action)."""
    dist = np.full(goals.shape, -1, dtype=np.int16)
    frontier = goals & walk[None]
    dist[frontier] = 0
    entering = [shift_from(walk, dx, dy) for dx, dy in DIRS]  # entering[d][x, y]: the cell ahead is walkable
    k = 0
    while frontier.any():
        if stop_at is not None and dist[stop_at[2], stop_at[0], stop_at[1]] >= 0:
            break
        pred = np.roll(frontier, 1, axis=0) | np.roll(frontier, -1, axis=0)
        for d, (dx, dy) in enumerate(DIRS):
            pred[d] |= shift_from(frontier[d], dx, dy) & entering[d]
        pred &= walk[None] & (dist < 0)
        k += 1
        dist[pred] = k
        frontier = pred
    return dist


def first_action(dist, walk, agent):
    """'done' if the agent's pose is a goal, None if no goal is reachable, else the first move."""
    x, y, d = agent
    here = dist[d, x, y]
    if here == 0:
        return "done"
    if here < 0:
        return None
    dx, dy = DIRS[d]
    w, h = walk.shape
    if 0 <= x + dx < w and 0 <= y + dy < h and walk[x + dx, y + dy] and dist[d, x + dx, y + dy] == here - 1:
        return FORWARD
    if dist[(d - 1) % 4, x, y] == here - 1:
        return LEFT
    return RIGHT


def goto_goals(target, shape):
    """Poses next to `target` and facing it."""
    goals = np.zeros((4,) + shape, dtype=bool)
    tx, ty = target
    for d, (dx, dy) in enumerate(DIRS):
        x, y = tx - dx, ty - dy
        if 0 <= x < shape[0] and 0 <= y < shape[1]:
            goals[d, x, y] = True
    return goals


def explore_targets(obs):
    """Unseen cells next to known open space: what exploring can still reveal. Returns (mask, opaque)."""
    kind = obs[:, :, 0]
    unseen = kind == UNSEEN
    opaque = opaque_cells(kind, obs[:, :, 2])
    open_known = ~unseen & ~opaque
    near_open = np.zeros_like(unseen)
    for dx, dy in DIRS:
        near_open |= shift_from(open_known, dx, dy)
    return unseen & near_open, opaque


def explore_goals(targets, opaque):
    """Poses whose 3x3 view would reveal one of the target cells.

    The view rule is minigrid's for a 3x3 view: the agent's row and the row ahead are always visible, a cell
    of the far row only when a neighbouring cell of the middle row lets light through."""
    unseen = targets
    light = ~opaque  # unseen cells may let light through; outside the grid never does
    goals = np.zeros((4,) + targets.shape, dtype=bool)
    for d, (fx, fy) in enumerate(DIRS):
        rx, ry = -fy, fx  # the agent's right
        g = np.zeros_like(unseen)
        for side in (-1, 0, 1):
            for ahead in (0, 1):
                g |= shift_from(targets, fx * ahead + rx * side, fy * ahead + ry * side)
            far = shift_from(targets, 2 * fx + rx * side, 2 * fy + ry * side)
            lit = np.zeros_like(unseen)
            for mid in (side - 1, side, side + 1):
                if -1 <= mid <= 1:
                    lit |= shift_from(light, fx + rx * mid, fy + ry * mid)
            g |= far & lit
        goals[d] = g
    return goals


class FieldCache:
    """Bounded LRU cache of distance fields keyed by the bytes they depend on."""

    def __init__(self, size=256):
        self.size, self.fields = size, OrderedDict()
        self.hits = self.misses = 0

    def get(self, key, make):
        field = self.fields.get(key)
        if field is not None:
            self.fields.move_to_end(key)
            self.hits += 1
            return field
        self.misses += 1
        field = make()
        self.fields[key] = field
        if len(self.fields) > self.size:
            self.fields.popitem(last=False)
        return field
