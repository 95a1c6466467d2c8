"""A plain-array shortest-path search over agent poses, written independently of teacher.navigation's bitboards,
with the same interface as teacher.navigation.Paths (explore -> view, goto -> field): the tests' oracle."""
import numpy as np

from teacher.navigation import DIRS, FORWARD, LEFT, RIGHT, UNSEEN, opaque_cells, walkable_cells


def shift_from(arr, dx, dy, fill=False):
    """out[x, y] = arr[x + dx, y + dy] (fill outside the grid)."""
    out = np.full_like(arr, fill)
    w, h = arr.shape
    out[max(0, -dx):w - max(0, dx), max(0, -dy):h - max(0, dy)] = arr[max(0, dx):w + min(0, dx), max(0, dy):h + min(0, dy)]
    return out


def distance_field(walk, goals):
    """dist[d, x, y]: moves from pose (x, y, d) to the nearest goal pose (-1: unreachable)."""
    dist = np.full(goals.shape, -1, dtype=np.int16)
    frontier = goals & walk[None]
    dist[frontier] = 0
    entering = [shift_from(walk, dx, dy) for dx, dy in DIRS]  # entering[d][x, y]: the cell ahead is walkable
    k = 0
    while frontier.any():
        pred = np.roll(frontier, 1, axis=0) | np.roll(frontier, -1, axis=0)
        for d, (dx, dy) in enumerate(DIRS):
            pred[d] |= shift_from(frontier[d], dx, dy) & entering[d]
        pred &= walk[None] & (dist < 0)
        k += 1
        dist[pred] = k
        frontier = pred
    return dist


class ArrayField:
    def __init__(self, walk, goals):
        self.walk, self.dist = walk, distance_field(walk, goals)

    def first_action(self, agent):
        x, y, d = agent
        here = self.dist[d, x, y]
        if here == 0:
            return "done"
        if here < 0:
            return None
        dx, dy = DIRS[d]
        w, h = self.walk.shape
        if 0 <= x + dx < w and 0 <= y + dy < h and self.walk[x + dx, y + dy] and self.dist[d, x + dx, y + dy] == here - 1:
            return FORWARD
        if self.dist[(d - 1) % 4, x, y] == here - 1:
            return LEFT
        return RIGHT


def goto_goals(target, shape):
    goals = np.zeros((4,) + shape, dtype=bool)
    tx, ty = target
    for d, (dx, dy) in enumerate(DIRS):
        x, y = tx - dx, ty - dy
        if 0 <= x < shape[0] and 0 <= y < shape[1]:
            goals[d, x, y] = True
    return goals


def explore_goals(targets, opaque):
    """Poses whose 3x3 view would reveal a target cell (near row always, far row through a lit middle cell)."""
    light = ~opaque
    goals = np.zeros((4,) + targets.shape, dtype=bool)
    for d, (fx, fy) in enumerate(DIRS):
        rx, ry = -fy, fx
        g = np.zeros_like(targets)
        for side in (-1, 0, 1):
            for ahead in (0, 1):
                g |= shift_from(targets, fx * ahead + rx * side, fy * ahead + ry * side)
            lit = np.zeros_like(targets)
            for mid in (side - 1, side, side + 1):
                if -1 <= mid <= 1:
                    lit |= shift_from(light, fx + rx * mid, fy + ry * mid)
            g |= shift_from(targets, 2 * fx + rx * side, 2 * fy + ry * side) & lit
        goals[d] = g
    return goals


class ArrayExploreView:
    def __init__(self, kind, state):
        unseen = kind == UNSEEN
        opaque = opaque_cells(kind, state)
        open_known = ~unseen & ~opaque
        near_open = np.zeros_like(unseen)
        for dx, dy in DIRS:
            near_open |= shift_from(open_known, dx, dy)
        self.targets = unseen & near_open
        self.walk = walkable_cells(kind, state, lava_ok=False)
        self.field = ArrayField(self.walk, explore_goals(self.targets, opaque))

    def anything_left(self):
        return bool(self.targets.any())

    def ahead(self, x, y, d):
        fx, fy = DIRS[d]
        xs, ys = np.nonzero(self.targets)
        return bool(((xs - x) * fx + (ys - y) * fy > 0).any())

    def first_action(self, agent):
        return self.field.first_action(agent)


class ArrayPaths:
    """Searches from scratch every time (no cache)."""

    def explore(self, kind, state):
        return ArrayExploreView(kind, state)

    def goto(self, walk, target):
        return ArrayField(walk, goto_goals(target, walk.shape))

    def goto_cells(self, walk, cells, onto=False):
        goals = np.zeros((4,) + walk.shape, dtype=bool)
        for x, y in zip(*np.nonzero(cells)):
            goals |= np.broadcast_to(cells, goals.shape) if onto else goto_goals((int(x), int(y)), walk.shape)
        return ArrayField(walk, goals)
