"""Hand-written option policies: each maps (observation, option) to a primitive action, "done" (finished) or
None (cannot act: the teacher moves on to the plan's next option)."""
import numpy as np

from teacher.navigation import (DIRS, FORWARD, FieldCache, distance_field, explore_goals, explore_targets,
                                first_action, goto_goals, walkable_map)

PICKUP, DROP, TOGGLE, WAIT = 3, 4, 5, 6
PRIMITIVE = {"pickup": PICKUP, "drop": DROP, "toggle": TOGGLE}


class OptionPolicies:
    """Option -> action for one observation. With cache=True distance fields are reused across steps (same
    answers as cache=False, which searches from scratch and stops as soon as the agent's pose is reached)."""

    def __init__(self, goto_through_lava=True, cache=True):
        self.goto_through_lava = goto_through_lava
        self.cache = FieldCache() if cache else None

    def _field(self, key, walk, goals_fn, agent):
        if self.cache is None:
            goals = goals_fn()
            return None if goals is None else distance_field(walk, goals, stop_at=agent)
        return self.cache.get(key, lambda: self._full_field(walk, goals_fn))

    @staticmethod
    def _full_field(walk, goals_fn):
        goals = goals_fn()
        return None if goals is None else distance_field(walk, goals)

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
        action = first_action(dist, walk, agent)
        return "done" if action in ("done", None) else action

    @staticmethod
    def _explore_field(obs, walk):
        targets, opaque = explore_targets(obs)
        cells = np.argwhere(targets)
        return cells, (distance_field(walk, explore_goals(targets, opaque)) if len(cells) else None)

    def goto(self, obs, agent, target):
        walk = walkable_map(obs, agent, lava_ok=self.goto_through_lava)
        key = ("goto", target, walk.tobytes())
        dist = self._field(key, walk, lambda: goto_goals(target, walk.shape), agent)
        return first_action(dist, walk, agent)

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
