"""Hand-built memory observations from ASCII maps, for mediator and teacher tests.

Rows are y, columns x. '#' wall, '.' empty, '?' unseen, 'L' lava, 'D' locked door, 'O' open door,
'k' / 'b' / 'r' yellow / blue / red key, 'B' / 'R' blue / red locked door, 'C' closed yellow door, 'X' purple box,
'o' / 'g' grey / green ball, 'G' goal; the agent is one of '>', 'v', '<', '^' (east, south, west, north) standing
on an empty cell; `carrying` (a key, box or ball letter, or None) is shown on its cell.
"""
import numpy as np
from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX

CELLS = {
    "#": ("wall", "grey", 0), ".": ("empty", "red", 0), "?": ("unseen", "red", 0), "L": ("lava", "red", 0),
    "D": ("door", "yellow", 2), "O": ("door", "yellow", 0), "k": ("key", "yellow", 0), "b": ("key", "blue", 0),
    "r": ("key", "red", 0), "B": ("door", "blue", 2), "R": ("door", "red", 2), "C": ("door", "yellow", 1),
    "X": ("box", "purple", 0), "o": ("ball", "grey", 0), "g": ("ball", "green", 0), "G": ("goal", "green", 0),
}
AGENT = {">": 0, "v": 1, "<": 2, "^": 3}


def encode(obj, colour, state):
    if obj in ("empty", "unseen"):
        return (OBJECT_TO_IDX[obj], 0, 0)
    return (OBJECT_TO_IDX[obj], COLOR_TO_IDX[colour], state)


def make_obs(rows, carrying=None):
    rows = [r.replace(" ", "") for r in rows]
    h, w = len(rows), len(rows[0])
    obs = np.zeros((w, h, 4), dtype=np.uint8)
    obs[:, :, 3] = 4
    for y, row in enumerate(rows):
        for x, ch in enumerate(row):
            if ch in AGENT:
                obs[x, y, :3] = encode(*CELLS[carrying]) if carrying else encode("empty", "red", 0)
                obs[x, y, 3] = AGENT[ch]
            else:
                obs[x, y, :3] = encode(*CELLS[ch])
    return obs
