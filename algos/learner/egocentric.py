"""The memory map seen from the agent (--egocentric): turned so the agent faces up and centred on its cell.

The grid student's official encoder reads the map as the world lays it out, so "the key is two cells ahead" is a
different input at every position and heading, and imitating a teacher on a large map must learn each one. Centred
and turned, the same situation is the same input wherever the agent stands (as the egocentric maps of Neural Map,
Parisotto & Salakhutdinov 2018, and of Active Neural SLAM, Chaplot et al. 2020). The map still holds every cell
seen; the window is 2R+1 cells a side (R = the map's larger side - 1), so the whole map is in it from any cell.

out[b, i, j] is the map's cell at lateral offset i - R (right of the agent positive) and forward offset R - j (ahead
of the agent at j < R, as minigrid's own view), the agent at [R, R]. Cells outside the grid read as unseen (0), with
no agent (4) in each frame's direction channel."""
import torch
from minigrid.core.constants import DIR_TO_VEC

from env.memory import NO_AGENT  # the direction channel off the agent's cell
_DIRS = torch.tensor([list(v) for v in DIR_TO_VEC], dtype=torch.long)


def window_size(width, height):
    """The egocentric window's side for a W x H map."""
    return 2 * (max(width, height) - 1) + 1


def egocentric(maps, frame_channels=4):
    """(B, W, H, C) memory maps (C = frames x frame_channels, newest frame last) -> (B, S, S, C), S =
    window_size(W, H), each turned and centred on the agent of its newest frame (the cell whose direction channel
    is not NO_AGENT)."""
    b, w, h, c = maps.shape
    r = max(w, h) - 1
    s = 2 * r + 1
    agent_channel = c - frame_channels + 3
    device = maps.device
    on_agent = (maps[..., agent_channel] != NO_AGENT).reshape(b, -1)
    cell = on_agent.to(torch.uint8).argmax(dim=1)  # the agent's cell, x * H + y
    ax, ay = cell // h, cell % h
    direction = maps.reshape(b, -1, c)[torch.arange(b, device=device), cell, agent_channel].long() % 4
    fwd = _DIRS.to(device)[direction]  # (B, 2): the cell ahead is agent + fwd
    dx, dy = fwd[:, 0].view(b, 1, 1), fwd[:, 1].view(b, 1, 1)
    rx, ry = -dy, dx  # the agent's right
    lateral = torch.arange(-r, r + 1, device=device).view(1, s, 1)  # index i
    forward = (r - torch.arange(s, device=device)).view(1, 1, s)  # index j
    px = ax.view(b, 1, 1) + r + dx * forward + rx * lateral  # in the padded map: always inside it
    py = ay.view(b, 1, 1) + r + dy * forward + ry * lateral
    fill = torch.zeros(c, dtype=maps.dtype, device=device)
    fill[3::frame_channels] = NO_AGENT
    padded = fill.expand(b, w + 2 * r, h + 2 * r, c).clone()
    padded[:, r:r + w, r:r + h] = maps
    flat = padded.reshape(b, -1, c)
    index = (px * (h + 2 * r) + py).reshape(b, -1)
    return flat[torch.arange(b, device=device).view(b, 1), index].reshape(b, s, s, c)
