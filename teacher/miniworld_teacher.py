"""The teacher in a MiniWorld (3D) world: the same LLM side as on the grid (texts, planners, plan cache, recorded
answers, parse_plan), with a description and skills of its own that read the simulator's state (env/miniworld.py).

Text: "Agent sees <red box>, <yellow box>, holds <nothing>." -- the objects seen so far this episode (in the
camera's view once, walls hide), kind by kind and colour by colour (a fixed order, so a set of objects is one text);
of several objects with one name, the nearest is meant. A task may name only the objects its goal is about
(configs/tasks.json "named", e.g. PutNext's red and yellow boxes); the others are then obstacles the skills walk
around, and one of them held is "<box>" (its kind).

Skills (the options of a plan), each a function of the simulator's state -> one of the env's actions:
- explore: turn on the spot until every object has been in view, then walk toward the least visited free place;
- go to <x>: aim at a <x> the camera shows (the nearest; kept once chosen, until out of view for KEEP steps), else
  turn left until one is in view (a full turn at most, then head for the nearest remembered): so the way it turns is
  mostly in the student's image. Walk around walls and other objects to stand facing it; holding an object, until
  that object, dropped now, would lie next to <x> (so "go to <yellow box>, drop <red box>" puts the red box next to
  it), passing <x> a little to one side, where the object carried ahead does not hide it from the camera;
- pick up <x>: pick it up once it is within reach ahead (else go to it first);
- drop <x>: put down the object held.
"""
import math

import numpy as np

from env import miniworld as mw
from teacher.mediator import parse_plan
from teacher.miniworld_navigation import (BESIDE, CELL, REACH, FloorGrid, beside, free_ahead, held_fits,
                                          line_clear, turn_step)
from teacher.policy import sample_actions, text_id

FACING = math.radians(10)
KEEP = 8             # go to: steps a chosen target out of view is still headed for (then searched for)
DETOUR = 4           # free steps walked around an obstacle before heading for the goal again


class MiniWorldTeacher:
    def __init__(self, planner, soft=False, rng=None, named=None, colours=True, sighted=False):
        self.planner, self.soft, self.colours, self.sighted = planner, soft, colours, sighted
        self.named = None if named is None else set(named)
        self.rng = rng if rng is not None else np.random.default_rng()
        self.actions = self.n_actions = None            # the env's Actions enum and action count (at begin)
        self.last_text, self.last_text_id = None, 0
        self._ids, self._weights = {}, {}
        self.seen, self.turned, self.visits = set(), 0.0, None
        self.avoid, self.detour = 0, 0  # steer's way around an obstacle: the side it turns to, free steps left
        self.pose = None  # the agent's (x, z, heading) at the last teach: what it did since is read from the sim
        self.looking = False  # whether the last step's advice was the look-around's turn
        self.aims, self.searched, self.searching = {}, {}, set()  # go to's: target chosen, turns searched, asked
        self.unseen = {}  # go to's: the steps each chosen target has been out of view
        self.blind = False  # whether the skill acting now follows what the camera does not show (plan_action)

    def begin(self, env):
        """An episode starts in env."""
        self.actions, self.n_actions = env.actions, int(env.action_space.n)
        self.seen, self.turned, self.avoid, self.detour, self.pose, self.looking = set(), 0.0, 0, 0, None, False
        self.aims, self.searched, self.searching, self.unseen = {}, {}, set(), {}
        self.grid = FloorGrid(env)
        self.visits = np.zeros(self.grid.shape, np.int32)

    # -- the text -------------------------------------------------------------------------------------------------
    def describe(self, env):
        """(text, {name: [entities]}, carried name or None)."""
        carried = env.agent.carrying
        named, order = {}, []
        for kind, colour, ent in mw.objects(env):
            name = f"{colour} {kind}" if colour and self.colours else kind
            if self.named is not None and name not in self.named:
                if ent is not carried:
                    continue
                name = kind  # an unnamed object held
            if ent is not carried and id(ent) not in self.seen and mw.in_view(env, ent):
                self.seen.add(id(ent))
            if ent is carried or id(ent) in self.seen:
                named.setdefault(name, []).append(ent)
                order.append((list(mw.kinds()).index(kind), (colour or "") if self.colours else "", name))
        carried_name = next((n for n, ents in named.items() if carried in ents), None)
        visible = [n for _, _, n in sorted(set(order)) if n != carried_name or len(named[n]) > 1]
        sees = ", ".join(f"<{n}>" for n in visible) or "<nothing>"
        text = f"Agent sees {sees}, holds <{carried_name or 'nothing'}>."
        return text, named, carried_name

    # -- the distribution over actions ----------------------------------------------------------------------------
    def teach(self, env, obs=None):
        """Distribution over the env's actions, or None while a live LLM has not answered the text yet (the image
        obs is the student's; the skills read the simulator). A sighted teacher (--sighted_teacher) teaches only its
        plans whose skill acts on what the camera shows, reweighted; None where there is none (a blind step)."""
        pose = mw.agent_pose(env)
        self.visits[self.grid.cell(pose[0], pose[1])] += 1
        self.observe(env, pose)
        text, named, carried = self.describe(env)
        self.last_text = text
        self.last_text_id = self._ids.get(text) or self._ids.setdefault(text, text_id(text))
        plans = self.planner.plans(text)
        if plans is None:
            return None
        probs = np.zeros(self.n_actions, np.float32)
        if self.soft:
            for plan, p in plans:
                action = self.plan_action(env, named, carried, plan)
                if not (self.sighted and self.blind):
                    probs[action] += p
            total = probs.sum()
            return probs / total if total > 0 else None
        choice = 0
        if len(plans) > 1:
            weights = self._weights.get(text)
            if weights is None:
                weights = self._weights[text] = np.array([p for _, p in plans], dtype=np.float64)
            choice = int(sample_actions(weights, self.rng))
        probs[self.plan_action(env, named, carried, plans[choice][0])] = 1.0
        return None if self.sighted and self.blind else probs

    def observe(self, env, pose):
        """Update the skills' memory from what the agent did since the last step, read from the simulator (the
        student may have acted, not the teacher): the look-around counts the turns actually made while it was
        advised, a detour the free steps actually walked forward. The skills only read this memory, so a soft
        teacher's several plans, each asked for its action in one step, leave it as one call would. pose: the
        agent's (x, z, heading) now (env/miniworld.py agent_pose)."""
        if self.pose is not None:
            x, z, heading = self.pose
            turn = (pose[2] - heading + math.pi) % (2 * math.pi) - math.pi
            ahead = (pose[0] - x) * math.cos(heading) - (pose[1] - z) * math.sin(heading)  # along the old heading
            if abs(turn) > 1e-6:
                if self.looking:
                    self.turned += turn_step(env)
                for name in self.searching:
                    self.searched[name] = self.searched.get(name, 0.0) + turn_step(env)
            if self.detour > 0 and ahead > 0.5 * env.max_forward_step:
                self.detour -= 1
        for name, ent in self.aims.items():
            self.unseen[name] = 0 if mw.in_view(env, ent) else self.unseen.get(name, 0) + 1
        self.pose, self.looking, self.searching = pose, False, set()

    def plan_action(self, env, named, carried, plan):
        """The plan's action; self.blind says whether it follows what the camera does not show: a go to (or pick
        up) target out of view, explore's walk toward unvisited floor, or a wait (the plan has nothing to do)."""
        for kind, target in parse_plan(plan):
            self.blind = False
            action = self.skill(env, named, carried, kind, target)
            if action is not None:
                return action
        return self.wait()

    def wait(self):
        """An action that changes nothing: done where the env has it, else pick up with nothing in reach."""
        self.blind = True
        done = getattr(self.actions, "done", None)
        return int(done) if done is not None and int(done) < self.n_actions else int(self.actions.pickup)

    # -- skills: an action, or None when the skill is finished (the plan's next option goes on) ----------------------
    def skill(self, env, named, carried, kind, target):
        if kind == "explore":
            return self.explore(env)
        if kind == "wait" or target is None or target not in named:
            return self.wait()
        holding = env.agent.carrying
        if kind == "drop":
            return int(self.actions.drop) if target == carried and holding is not None else None
        if kind == "pickup":
            if target == carried:
                return None
            if holding is not None:  # hands full: the plan must drop first
                return self.wait()
            ent, search = self.aim(env, target, named[target])
            if search is not None:
                return search
            if mw.in_reach(env, ent):
                return int(self.actions.pickup)
            action = self.go_to(env, ent)
            return self.close_in(env, ent) if action is None else action
        if kind == "goto":
            if target == carried and len(named[target]) == 1:
                return None
            ent, search = self.aim(env, target, [e for e in named[target] if e is not holding])
            return self.go_to(env, ent) if search is None else search
        return self.wait()  # open/toggle: nothing to open in these worlds

    def aim(self, env, name, ents):
        """(the <name> to head for, None) or (None, the search's turn): the nearest one in the camera's view, kept
        once chosen while out of view for fewer than KEEP steps (a detour, a close approach); else turn left to find
        one (the turns counted by observe), and after a full turn the nearest remembered."""
        in_view = [e for e in ents if mw.in_view(env, e)]
        if in_view:
            self.aims[name], self.searched[name] = self.nearest(env, in_view), 0.0
            return self.aims[name], None
        kept = any(e is self.aims.get(name) for e in ents) and self.unseen.get(name, 0) < KEEP
        if not kept and self.searched.get(name, 0.0) < 2 * math.pi and self._left_turn_fits(env):
            self.searching.add(name)
            return None, int(self.actions.turn_left)  # none in view: turn left (sighted)
        self.blind = True  # headed for one the camera does not show: kept, or remembered after a full turn
        return (self.aims[name] if kept else self.nearest(env, ents)), None

    def nearest(self, env, ents):
        return min(ents, key=lambda e: mw.ground_distance(e.pos, env.agent.pos))

    def arrived(self, env, ent):
        a, held = env.agent, env.agent.carrying
        if held is not None:  # the held object, put down here, would lie next to the target (MiniWorld's near)
            drop = held.pos.copy()
            drop[1] = 0.0
            return mw.ground_distance(drop, ent.pos) < held.radius + ent.radius + 1.1 * env.max_forward_step
        return mw.ground_distance(a.pos, ent.pos) <= a.radius + ent.radius + REACH and \
            abs(mw.heading_to(env, ent.pos)) <= FACING

    def go_to(self, env, ent):
        if self.arrived(env, ent):
            return None
        a = env.agent
        held = a.carrying
        if line_clear(env, ent):  # straight there (the usual case in a room)
            if held is None:
                return self.steer(env, ent.pos)
            return self.carry_to(env, ent)
        return self.steer(env, self.grid.waypoint(env, ent, ignore=(held,)))

    def carry_to(self, env, ent):
        """Holding an object, walk to put it next to `ent` with `ent` beside the line ahead, where the held object,
        carried ahead, does not hide it from the camera (straight at it, a box is hidden from 3.4 m:
        bench/miniworld_skills.py): straight on while `ent` passes between BESIDE and 1 touching distance to the
        side (near enough to arrive), or farther while one turn toward it would bring it nearer the line than
        that; else steer for a point beside it."""
        a, held = env.agent, env.agent.carrying
        touch = held.radius + ent.radius
        distance, bearing = mw.ground_distance(a.pos, ent.pos), abs(mw.heading_to(env, ent.pos))
        side, turned = distance * math.sin(bearing), distance * abs(math.sin(bearing - turn_step(env)))
        lane = BESIDE * touch <= side <= touch or (side > touch and turned < BESIDE * touch)
        if lane and bearing < math.pi / 3 and free_ahead(env):
            return int(self.actions.move_forward)
        return self.steer(env, beside(env, ent))

    def close_in(self, env, ent):
        """Beside `ent` but something else would be picked up: face it squarely and step closer, or back off."""
        a = env.agent
        turn = mw.heading_to(env, ent.pos)
        if abs(turn) > math.radians(4):
            return int(self.actions.turn_left if turn > 0 else self.actions.turn_right)
        ahead = a.pos + a.dir_vec * env.max_forward_step
        return int(self.actions.move_forward if not mw.blocked(env, ahead, a.radius) else self.actions.move_back)

    def steer(self, env, goal):
        """Turn toward goal, or step forward when facing it. Blocked ahead, it turns one way (toward the goal's
        side, chosen once) and walks DETOUR free steps before heading for the goal again, as a wall-follower does,
        rather than dithering; with an object held it backs off first when it can."""
        a = env.agent
        turn = mw.heading_to(env, goal)
        step = math.radians(env.params.sample(None, "turn_step"))
        if self.detour > 0:
            if free_ahead(env):
                return int(self.actions.move_forward)  # counted once walked (observe)
            for side in (self.avoid, -self.avoid):
                if held_fits(env, a.pos, a.dir + side * step):
                    self.avoid = side
                    return self._turn(side)
            return int(self.actions.move_back)
        if abs(turn) > step / 2:
            side = 1 if turn > 0 else -1
            if held_fits(env, a.pos, a.dir + side * step):
                return self._turn(side)
        elif free_ahead(env):
            return int(self.actions.move_forward)
        self.avoid, self.detour = (1 if turn >= 0 else -1), DETOUR
        behind = a.pos - a.dir_vec * env.max_forward_step
        if a.carrying is not None and not mw.blocked(env, behind, a.radius, ignore=(a.carrying,)) and \
                held_fits(env, behind, a.dir):
            return int(self.actions.move_back)
        return self._turn(self.avoid)

    def _turn(self, side):
        return int(self.actions.turn_left if side > 0 else self.actions.turn_right)

    def _left_turn_fits(self, env):
        """Whether what the agent holds (if anything) has room after one turn left on the spot."""
        return held_fits(env, env.agent.pos, env.agent.dir + turn_step(env))

    def explore(self, env):
        """Turn on the spot until every object has been in view (a full turn at most, or until what it holds would
        hit something), then walk toward the least visited reachable place; None when every object has been seen."""
        unseen = [e for kind, colour, e in mw.objects(env) if id(e) not in self.seen and e is not env.agent.carrying
                  and (self.named is None or f"{colour} {kind}" in self.named)]
        if not unseen:
            return None
        if self.turned < 2 * math.pi:  # the turns made so far (observe)
            if self._left_turn_fits(env):
                self.looking = True
                return int(self.actions.turn_left)
            self.turned = 2 * math.pi  # what it holds would hit something: walk on rather than turn in vain
        goal = self.grid.least_visited(env, self.visits)
        if goal is None or mw.ground_distance(env.agent.pos, goal) < 2 * CELL:
            self.turned = 0.0  # look around again from here (this turn not counted: the look-around starts next)
            return int(self.actions.turn_left)
        self.blind = True  # toward floor unvisited this episode: a memory the image does not hold
        return self.steer(env, goal)

