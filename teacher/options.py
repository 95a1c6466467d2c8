"""Hand-written option policies: each maps (observation, option) to a primitive action, "done" (finished) or
None (cannot act: the teacher moves on to the plan's next option)."""
import numpy as np

from teacher import bitfield
from teacher.navigation import (DIRS, FORWARD, FieldCache, distance_field, explore_goals, explore_targets,
                                first_action, goto_goals, walkable_map)

PICKUP, DROP, TOGGLE, WAIT = 3, 4, 5, 6
PRIMITIVE = {"pickup": PICKUP, "drop": DROP, "toggle": TOGGLE}


class OptionPolicies:
    """Option -> action for one observation. With cache=True distance fields are computed on bitboards for the
    whole map and reused across steps while the map is unchanged; cache=False searches from scratch with
    arrays and stops as soon as the agent's pose is reached. Both give the same answers (tested)."""

    def __init__(self, goto_through_lava=True, cache=True):
        self.goto_through_lava = goto_through_lava
        self.cache = FieldCache() if cache else None

    def explore(self, obs, agent):
        """Like the official explore, walk straight on while unseen space lies ahead; otherwise take the
        shortest way to the nearest pose that reveals unseen space (instead of the official local turning
        rules, which can turn back and forth forever). Finished when nothing unseen is left to reveal."""
        walk = walkable_map(obs, agent, lava_ok=False)
        if self.cache is None:
            targets, opaque = explore_targets(obs)
            cells = np.argwhere(targets)
            dist = None if not len(cells) else distance_field(walk, explore_goals(targets, opaque), stop_at=agent)
        else:
            key = ("explore", walk.tobytes(), obs[:, :, 0].tobytes(), (obs[:, :, 2] != 0).tobytes())
            cells, dist = self.cache.get(key, lambda: self._explore_field(obs, walk))
        if not len(cells):  # nothing unseen is left
            return "done"
        x, y, d = agent
        fx, fy = DIRS[d]
        w, h = walk.shape
        if 0 <= x + fx < w and 0 <= y + fy < h and walk[x + fx, y + fy] and \
                ((cells[:, 0] - x) * fx + (cells[:, 1] - y) * fy > 0).any():
            return FORWARD
        action = first_action(dist, walk, agent) if self.cache is None else dist.first_action(agent)
        return "done" if action in ("done", None) else action

    @staticmethod
    def _explore_field(obs, walk):
        targets, opaque = explore_targets(obs)
        cells = np.argwhere(targets)
        if not len(cells):
            return cells, None
        lay = bitfield.Layout(*walk.shape)
        goals = bitfield.explore_goals(lay, lay.bits(targets), lay.bits(~opaque))
        return cells, bitfield.BitField(lay.bits(walk), goals, lay)

    def goto(self, obs, agent, target):
        walk = walkable_map(obs, agent, lava_ok=self.goto_through_lava)
        if self.cache is None:
            return first_action(distance_field(walk, goto_goals(target, walk.shape), stop_at=agent), walk, agent)
        key = ("goto", target, walk.tobytes())
        field = self.cache.get(key, lambda: self._goto_field(walk, target))
        return field.first_action(agent)

    @staticmethod
    def _goto_field(walk, target):
        lay = bitfield.Layout(*walk.shape)
        return bitfield.BitField(lay.bits(walk), bitfield.goto_goals(lay, target), lay)

    def act(self, obs, agent, option, description):
        """First action of `option` now. Unknown objects (never seen, or not an object) make the option wait."""
        kind, target = option
        if kind == "explore":
            return self.explore(obs, agent)
        if kind == "wait" or target is None:
            return WAIT
        known = target in description.objects or target == description.carried
        if not known:
            return WAIT
        if kind == "goto":
            if target == description.carried:  # already holding it: nothing to walk to
                return "done"
            return self.goto(obs, agent, description.objects[target])
        return PRIMITIVE[kind]
