"""Breadth-first search over agent poses on bitboards: a set of poses (x, y, direction) is one Python integer,
so a whole BFS layer advances in a couple of dozen integer operations. Used for the teacher's cached distance
fields (teacher/navigation.py holds the array version used from scratch; tests check they agree).

Bit layout: pose (x, y, d) is bit d * P + y * R + x with R = W + 2 (two always-empty padding columns, so shifts
by up to 2 cells in x never wrap into a neighbouring row) and P = R * H.
"""
from functools import lru_cache

import numpy as np

from teacher.navigation import DIRS, FORWARD, LEFT, RIGHT


@lru_cache(maxsize=None)
class Layout:
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


class BitField:
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
        """Same contract and tie-breaking as navigation.first_action."""
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


def explore_goals(layout, targets, light):
    """Poses whose 3x3 view reveals a target cell (same rule as navigation.explore_goals)."""
    goals = 0
    for d, (fx, fy) in enumerate(DIRS):
        rx, ry = -fy, fx
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


def explore_entry(layout, unseen, opaque, walk):
    """(targets, field) for exploring: unseen cells next to known open space, and the distance field to the
    poses that reveal them (field None when nothing is left to reveal). Arguments are bitboards."""
    open_known = layout.cells & ~unseen & ~opaque
    near_open = 0
    for dx, dy in DIRS:
        near_open |= layout.shift(open_known, dx, dy)
    targets = unseen & near_open
    if not targets:
        return 0, None
    goals = explore_goals(layout, targets, layout.cells & ~opaque)
    return targets, BitField(walk, goals, layout)
