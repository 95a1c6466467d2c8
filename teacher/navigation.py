"""Shortest paths over agent poses (x, y, direction) with the moves turn-left, turn-right, forward: the teacher's
one path engine.

A distance field is a breadth-first search backwards from a set of goal poses, done on bitboards: a set of poses
is one Python integer (bit d * P + y * R + x, with R = W + 2 so that shifting by up to 2 cells in x never wraps
into the next row, and P = R * H), so a whole BFS layer advances in a couple of dozen integer operations. The
first action of a shortest path is then a lookup (ties: forward, then left, then right). Fields depend only on
the known map and the goals, so `Paths` caches them on exactly those bytes: while the agent walks through known
space the teacher does no search at all. (tests/path_oracle.py holds a plain array BFS the tests compare with.)
"""
from collections import OrderedDict
from functools import lru_cache

import numpy as np
from minigrid.core.actions import Actions
from minigrid.core.constants import DIR_TO_VEC, OBJECT_TO_IDX

LEFT, RIGHT, FORWARD = int(Actions.left), int(Actions.right), int(Actions.forward)
UNSEEN, WALL, DOOR, LAVA = OBJECT_TO_IDX["unseen"], OBJECT_TO_IDX["wall"], OBJECT_TO_IDX["door"], OBJECT_TO_IDX["lava"]
EMPTY, GOAL = OBJECT_TO_IDX["empty"], OBJECT_TO_IDX["goal"]
WALKABLE = np.zeros(256, dtype=bool)
WALKABLE[[OBJECT_TO_IDX[k] for k in ("empty", "floor", "goal", "lava")]] = True
DIRS = [tuple(int(v) for v in DIR_TO_VEC[d]) for d in range(4)]


def walkable_cells(kind, state, lava_ok):
    """Cells the agent may step into, from the object and state channels of the memory map."""
    walk = WALKABLE[kind] | ((kind == DOOR) & (state == 0))
    if not lava_ok:
        walk &= kind != LAVA
    return walk


def opaque_cells(kind, state):
    """Cells that block sight: walls and closed doors."""
    return (kind == WALL) | ((kind == DOOR) & (state != 0))


OBJECTS = np.zeros(256, dtype=bool)
OBJECTS[[OBJECT_TO_IDX[k] for k in ("door", "key", "ball", "box", "goal")]] = True
RING = [(0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1)]  # the 8 neighbours, sides at even places
DROP_LEVELS = ("blocks nothing", "not at a door", "empty")


def _neighbours(mask, offsets):
    """[out[x, y] = mask[x + dx, y + dy] for each offset] (False outside the grid)."""
    w, h = mask.shape
    pad = np.pad(mask, 1)
    return [pad[1 + dx:w + 1 + dx, 1 + dy:h + 1 + dy] for dx, dy in offsets]


def free_drop_cells(kind, state, agent_cell, level="blocks nothing"):
    """Known empty cells where a dropped object "blocks nothing": not next to a door or another object (whose
    only approach it could be), and the passable cells around them stay connected without them (one run of
    passable cells in the ring of 8 neighbours holding a side neighbour), so no corridor is cut; unseen cells and
    the agent's own cell count as passable. Weaker levels: "not at a door" (not next to a door), "empty"."""
    free = kind == EMPTY
    if level == "empty":
        return free
    if level == "not at a door":
        for near in _neighbours(kind == DOOR, RING[::2]):
            free &= ~near
        return free
    objects = OBJECTS[kind]
    objects[agent_cell] = False  # what the agent holds
    for near in _neighbours(objects, RING[::2]):
        free &= ~near
    passable = walkable_cells(kind, state, lava_ok=False) | (kind == UNSEEN)
    passable[agent_cell] = True
    ring = _neighbours(passable, RING)
    runs = np.zeros(kind.shape, dtype=np.int8)
    for i in range(8):
        starts = ring[i] & ~ring[i - 1]
        if i % 2:  # a corner alone (both sides closed) joins nothing
            starts &= ring[(i + 1) % 8]
        runs += starts
    return free & (runs <= 1)


@lru_cache(maxsize=None)
class Layout:
    """Bit positions of the poses of a W x H grid, and the masks the searches need."""

    def __init__(self, width, height):
        self.w, self.h = width, height
        self.r = width + 2
        self.p = self.r * height
        self.plane = (1 << self.p) - 1
        self.cells = self.bits(np.ones((width, height), dtype=bool))
        self.all4 = sum(self.cells << (d * self.p) for d in range(4))
        # cells strictly ahead of column x / row y, per direction: [east, south, west, north][d][x or y]
        xs, ys = np.meshgrid(np.arange(width), np.arange(height), indexing="ij")
        self.ahead = [[self.bits(xs > i) for i in range(width)], [self.bits(ys > j) for j in range(height)],
                      [self.bits(xs < i) for i in range(width)], [self.bits(ys < j) for j in range(height)]]

    def ahead_of(self, x, y, d):
        """Cells in the half-plane in front of pose (x, y, d)."""
        return self.ahead[d][x if d in (0, 2) else y]

    def bits(self, mask):
        """(W, H) bool -> int with bit y * R + x set where mask[x, y]."""
        padded = np.zeros((self.h, self.r), dtype=bool)
        padded[:, :self.w] = mask.T
        return int.from_bytes(np.packbits(padded.ravel(), bitorder="little").tobytes(), "little")

    def shift(self, bits, dx, dy):
        """out[x, y] = in[x + dx, y + dy] (cells only)."""
        o = dx + dy * self.r
        return ((bits >> o) if o >= 0 else (bits << -o)) & self.cells

    def index(self, x, y, d):
        return d * self.p + y * self.r + x


class Field:
    """Distance (in moves) from every pose to the nearest goal pose, as BFS layers."""

    def __init__(self, walk, goals4, layout):
        lay = self.layout = layout
        p = lay.p
        walk4 = sum(walk << (d * p) for d in range(4))
        frontier = goals4 & walk4
        visited = frontier
        self.layers = [frontier]
        while frontier:
            pred = ((frontier << p) | (frontier >> 3 * p)) & lay.all4           # turning left reaches frontier
            pred |= (frontier >> p) | ((frontier & lay.plane) << 3 * p)          # turning right reaches frontier
            for d, (dx, dy) in enumerate(DIRS):                                   # moving forward reaches it
                pred |= lay.shift((frontier >> (d * p)) & lay.plane, dx, dy) << (d * p)
            pred &= walk4 & ~visited
            if not pred:
                break
            visited |= pred
            self.layers.append(pred)
            frontier = pred
        self.walk = walk

    def distance(self, x, y, d):
        bit = 1 << self.layout.index(x, y, d)
        for k, layer in enumerate(self.layers):
            if layer & bit:
                return k
        return -1

    def first_action(self, agent):
        """'done' if the agent's pose is a goal, None if no goal is reachable, else the first move."""
        x, y, d = agent
        here = self.distance(x, y, d)
        if here == 0:
            return "done"
        if here < 0:
            return None
        lay, prev = self.layout, self.layers[here - 1]
        dx, dy = DIRS[d]
        if 0 <= x + dx < lay.w and 0 <= y + dy < lay.h and (self.walk >> (lay.index(x + dx, y + dy, 0))) & 1 \
                and prev >> lay.index(x + dx, y + dy, d) & 1:
            return FORWARD
        if prev >> lay.index(x, y, (d - 1) % 4) & 1:
            return LEFT
        return RIGHT


def goto_goals(layout, target):
    """Poses next to `target` and facing it."""
    tx, ty = target
    goals = 0
    for d, (dx, dy) in enumerate(DIRS):
        x, y = tx - dx, ty - dy
        if 0 <= x < layout.w and 0 <= y < layout.h:
            goals |= 1 << layout.index(x, y, d)
    return goals


def cell_goals(layout, cells, onto):
    """Poses standing on one of `cells` (bits) if onto, else next to one and facing it."""
    if onto:
        return sum(cells << (d * layout.p) for d in range(4))
    return sum(layout.shift(cells, dx, dy) << (d * layout.p) for d, (dx, dy) in enumerate(DIRS))


def explore_goals(layout, targets, light):
    """Poses whose 3x3 view reveals a target cell. minigrid's view rule for a 3x3 view: the agent's row and the row
    ahead are always visible, a cell of the far row only when a neighbouring middle-row cell lets light through."""
    goals = 0
    for d, (fx, fy) in enumerate(DIRS):
        rx, ry = -fy, fx  # the agent's right
        g = 0
        for side in (-1, 0, 1):
            for ahead in (0, 1):
                g |= layout.shift(targets, fx * ahead + rx * side, fy * ahead + ry * side)
            lit = 0
            for mid in (side - 1, side, side + 1):
                if -1 <= mid <= 1:
                    lit |= layout.shift(light, fx + rx * mid, fy + ry * mid)
            g |= layout.shift(targets, 2 * fx + rx * side, 2 * fy + ry * side) & lit
        goals |= g << (d * layout.p)
    return goals


class ExploreView:
    """What exploring a known map needs: the cells worth revealing (unseen cells next to known open space), the
    walkable map, and the distance field to the poses that reveal them."""

    def __init__(self, kind, state):
        lay = self.layout = Layout(*kind.shape)
        self.walk = walkable_cells(kind, state, lava_ok=False)
        opaque = lay.bits(opaque_cells(kind, state))
        open_known = lay.cells & ~lay.bits(kind == UNSEEN) & ~opaque
        near_open = 0
        for dx, dy in DIRS:
            near_open |= lay.shift(open_known, dx, dy)
        self.targets = lay.bits(kind == UNSEEN) & near_open
        self.field = Field(lay.bits(self.walk), explore_goals(lay, self.targets, lay.cells & ~opaque), lay) \
            if self.targets else None

    def anything_left(self):
        return bool(self.targets)

    def ahead(self, x, y, d):
        """Is there something to reveal in front of pose (x, y, d)?"""
        return bool(self.targets & self.layout.ahead_of(x, y, d))

    def first_action(self, agent):
        return self.field.first_action(agent)


class Paths:
    """The teacher's path engine: distance fields cached (bounded LRU) on the bytes they depend on."""

    def __init__(self, size=256):
        self.size, self.fields = size, OrderedDict()
        self.hits = self.misses = 0

    def _get(self, key, make):
        found = self.fields.get(key)
        if found is not None:
            self.fields.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        found = self.fields[key] = make()
        if len(self.fields) > self.size:
            self.fields.popitem(last=False)
        return found

    def explore(self, kind, state):
        """ExploreView of a known map (kind with the agent's cell shown as empty floor)."""
        return self._get(("explore", kind.tobytes(), state.tobytes()), lambda: ExploreView(kind, state))

    def goto(self, walk, target):
        """Field towards the poses next to `target` and facing it, over the walkable map `walk`."""
        def make():
            lay = Layout(*walk.shape)
            return Field(lay.bits(walk), goto_goals(lay, target), lay)
        return self._get(("goto", target, walk.tobytes()), make)

    def goto_cells(self, walk, cells, onto=False):
        """Field towards the poses on (onto) or facing any of `cells` ((W, H) bool), over the walkable map."""
        def make():
            lay = Layout(*walk.shape)
            return Field(lay.bits(walk), cell_goals(lay, lay.bits(cells), onto), lay)
        return self._get(("cells", onto, cells.tobytes(), walk.tobytes()), make)
