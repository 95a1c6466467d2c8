"""Hand-written option policies: each maps (observation, option) to a primitive action, "done" (finished) or
None (cannot act: the teacher moves on to the plan's next option)."""
import numpy as np

from teacher import bitfield
from teacher.navigation import (DIRS, EMPTY, FORWARD, UNSEEN, FieldCache, distance_field, explore_goals,
                                explore_targets, first_action, goto_goals, opaque_cells, walkable_cells,
                                walkable_map)

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
        x, y, d = agent
        fx, fy = DIRS[d]
        if self.cache is None:
            walk = walkable_map(obs, agent, lava_ok=False)
            targets, opaque = explore_targets(obs)
            xs, ys = np.nonzero(targets)
            if not len(xs):  # nothing unseen is left
                return "done"
            ahead = ((xs - x) * fx + (ys - y) * fy > 0).any()
        else:
            kind = obs[:, :, 0].copy()
            kind[x, y] = EMPTY  # the agent's own cell (maybe showing what it carries) is open floor
            state = obs[:, :, 2]
            lay = bitfield.Layout(*kind.shape)
            targets, walk, field = self.cache.get(("explore", kind.tobytes(), state.tobytes()),
                                                  lambda: self._explore_entry(lay, kind, state))
            if not targets:
                return "done"
            ahead = targets & lay.ahead_of(x, y, d)
        w, h = walk.shape
        if ahead and 0 <= x + fx < w and 0 <= y + fy < h and walk[x + fx, y + fy]:
            return FORWARD
        if self.cache is None:
            action = first_action(distance_field(walk, explore_goals(targets, opaque), stop_at=agent), walk, agent)
        else:
            action = field.first_action(agent)
        return "done" if action in ("done", None) else action

    @staticmethod
    def _explore_entry(lay, kind, state):
        """(targets, walkable map, distance field) for one known map."""
        walk = walkable_cells(kind, state, lava_ok=False)
        opaque = opaque_cells(kind, state)
        targets, field = bitfield.explore_entry(lay, lay.bits(kind == UNSEEN), lay.bits(opaque), lay.bits(walk))
        return targets, walk, field

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
