"""The teacher term's weight over a run, as one object with its own state (--teacher_schedule):

    schedule = make_schedule(config)
    coef = schedule.coef(iteration, env_steps)     # the weight of this iteration's update
    schedule.update(iteration, env_steps, evidence)  # once per iteration: what it measured (see Evidence)
    schedule.metrics()                             # the weight's evidence, logged with every iteration
    schedule.state_dict() / load_state_dict(d)     # saved in every checkpoint: --resume and --fork restore it

paper     the official clock: teacher_coef - teacher_coef_decay * k, at least teacher_coef_min, 0 from
          k = teacher_off_after on (k: the iteration, or env steps / teacher_itr_steps). Evidence is ignored.
adaptive  jump-start RL (Uchendu et al. 2023): the clock until the student's success in the periodic evaluations
          (EMA) reaches teacher_success_ratio x the teacher's own success on the same evaluation episodes (measured
          before the first iteration); then the teacher hands over (below). Until then every episode begins with a
          teacher roll-in of 0..H steps (algos/learner/rollin.py), H = the teacher's mean episode length x (1 - the
          student's success EMA / the success target), so the roll-ins shrink to nothing as the student catches up
          (JSRL's curriculum, with JSRL-Random's random switch step). A teacher that never succeeds (in none of up to
          teacher_eval_max episodes) is switched off at once, floor and all: a student that imitates a teacher that
          cannot succeed loses its entropy and PPO cannot explore again (bench/wrong_teacher.py).

The score: a task's success rate (its "score" in configs/tasks.json: "success", the default), or its mean return
("return": PickupObjects, scored by objects per episode, whose success, all five, is rare for a student); "success"
below means that score.

Caught up: the student's evaluation success EMA is at least teacher_success_ratio x the teacher's success on the n
evaluation episodes, a target never above (n + 1) / (n + 2) (Laplace's estimate for a perfect record: 0.917 for 10),
which an EMA of a perfect student reaches in a few evaluations (a return has no such cap: teacher_success_ratio x
the teacher's mean return).

Handing over: from the iteration the evidence first holds, the weight is multiplied by teacher_handover_factor **
(the iteration's env steps / teacher_handover_steps) every iteration (per iteration with teacher_handover_steps 0),
down to teacher_coef_min (the floor stays on), never above the paper clock (so it is also 0 after
teacher_off_after). It is not taken back. The designs compared with these two: docs/teacher_schedule.md.
"""
from dataclasses import dataclass
from typing import Optional

SCHEDULES = ("paper", "adaptive")
EMA_SCORE = 0.5       # the student's evaluation score: each evaluation weighs 0.5 (10 episodes each by default)


@dataclass
class Evidence:
    """What one iteration measured: student_score, the periodic evaluation's score (success rate, or mean return
    for a task scored by return; None when it did not evaluate); teacher_score and teacher_length, the teacher
    alone on the same evaluation episodes: its score and mean episode length (None unless measured now), over
    teacher_episodes episodes."""
    student_score: Optional[float] = None
    teacher_score: Optional[float] = None
    teacher_length: Optional[float] = None
    teacher_episodes: Optional[int] = None


def paper_coef(config, iteration, env_steps=0):
    """The official annealed coefficient at an iteration (and always 0 when teacher_coef is 0: plain PPO)."""
    k = iteration if config.teacher_itr_steps <= 0 else env_steps / config.teacher_itr_steps
    if config.teacher_coef <= 0 or k >= config.teacher_off_after:
        return 0.0
    return max(config.teacher_coef - config.teacher_coef_decay * k, config.teacher_coef_min)


class TeacherSchedule:
    """The paper's clock (--teacher_schedule paper); AdaptiveSchedule adds the hand-over and the roll-ins."""
    name = "paper"
    uses_evidence = False        # whether it reads the teacher's and the student's evaluation score
    rolls_in = False             # whether the teacher also acts (roll-ins at episode starts)

    def __init__(self, config, score="success"):
        self.config = config
        self.score = score           # "success" or "return": what student_ema and teacher_score hold
        self.handover_at = None      # the iteration the hand-over began (None: not yet)
        self.factor = 1.0            # the hand-over's multiplier so far
        self.student_ema = None
        self.teacher_score = None
        self.teacher_length = None
        self.teacher_episodes = None  # how many episodes teacher_score was measured on
        self.env_steps = None        # the env-step count after the last update (the hand-over's pace per env step)

    def coef(self, iteration, env_steps=0):
        clock = paper_coef(self.config, iteration, env_steps)
        if self.handover_at is None or clock <= 0:
            return clock
        if self.teacher_score <= 0.0:  # a teacher that never succeeds (or scores) is switched off, floor and all
            return 0.0
        return min(clock, max(self.config.teacher_coef * self.factor, self.config.teacher_coef_min))

    def rollin_horizon(self):
        """The longest teacher roll-in for episodes starting now (0: the student acts throughout)."""
        return 0

    def needs_teacher_score(self):
        """Whether the trainer should measure the teacher alone on the evaluation episodes now."""
        return self.uses_evidence and self.teacher_score is None and self.config.teacher_coef > 0

    def update(self, iteration, env_steps, evidence):
        """Take in what the iteration that just finished measured (iteration, env_steps: the counts after it)."""
        if evidence.teacher_score is not None:
            self.teacher_score = float(evidence.teacher_score)
            self.teacher_length = None if evidence.teacher_length is None else float(evidence.teacher_length)
            self.teacher_episodes = None if evidence.teacher_episodes is None else int(evidence.teacher_episodes)
        if evidence.student_score is not None:
            self.student_ema = _ema(self.student_ema, float(evidence.student_score), EMA_SCORE)
        step = self.handover_step(env_steps)
        self.env_steps = int(env_steps)
        if self.handover_at is not None:
            self.factor *= step
        elif self.caught_up():
            self.handover_at = iteration  # from the clock's weight now, the first step down
            clock = paper_coef(self.config, iteration, env_steps) / max(self.config.teacher_coef, 1e-12)
            self.factor = min(1.0, clock) * step

    def handover_step(self, env_steps):
        """The hand-over's multiplier for the iteration that ended at env_steps: teacher_handover_factor per
        teacher_handover_steps env steps of the iteration (per iteration where that is 0, or on the first update)."""
        factor, per = self.config.teacher_handover_factor, self.config.teacher_handover_steps
        if per <= 0 or self.env_steps is None:
            return factor
        return factor ** (max(0, int(env_steps) - self.env_steps) / per)

    def caught_up(self):
        target = self.score_target()
        return self.uses_evidence and target is not None and self.student_ema is not None and self.student_ema >= target

    def score_target(self):
        """The student's evaluation score EMA that has caught up with the teacher (None: not measured yet):
        teacher_success_ratio x the teacher's score; a success rate's target is at most (n + 1) / (n + 2) for n
        evaluation episodes."""
        if self.teacher_score is None:
            return None
        target = self.config.teacher_success_ratio * self.teacher_score
        if self.score == "return":
            return target
        n = self.config.num_eval
        return min(target, (n + 1) / (n + 2))

    def metrics(self):
        """The evidence behind the weight, for metrics.csv and TensorBoard (None: not measured); none for the
        paper clock, which reads no evidence."""
        return {}

    def state_dict(self):
        return {"name": self.name, "handover_at": self.handover_at, "factor": self.factor,
                "student_ema": self.student_ema, "teacher_score": self.teacher_score,
                "teacher_length": self.teacher_length, "teacher_episodes": self.teacher_episodes,
                "env_steps": self.env_steps}

    def load_state_dict(self, state):
        """Restore a checkpoint's state; a state of another schedule (a --fork that changed --teacher_schedule)
        starts this one afresh. ValueError for a state that is not one of today's."""
        if not isinstance(state, dict) or "name" not in state:
            raise ValueError("the teacher schedule's state is not a dict with a name")
        if state["name"] != self.name:
            return
        self.handover_at = None if state["handover_at"] is None else int(state["handover_at"])
        self.factor = float(state["factor"])
        if "teacher_success" in state:  # the name older checkpoints use
            state = {**state, "teacher_score": state["teacher_success"]}
        for key in ("student_ema", "teacher_score", "teacher_length"):
            setattr(self, key, None if state[key] is None else float(state[key]))
        for key in ("teacher_episodes", "env_steps"):
            setattr(self, key, None if state[key] is None else int(state[key]))


class AdaptiveSchedule(TeacherSchedule):
    name = "adaptive"
    uses_evidence = rolls_in = True

    def rollin_horizon(self):
        target = self.score_target() or 0.0
        if target <= 0 or not self.teacher_length:  # unmeasured, a teacher that never succeeds, or nothing to reach
            return 0
        caught_up = min(1.0, (self.student_ema or 0.0) / target)
        return int(round(self.teacher_length * (1.0 - caught_up)))

    def metrics(self):
        score = self.score.capitalize()
        return {f"Schedule/Student {score} EMA": self.student_ema, f"Schedule/Teacher {score}": self.teacher_score,
                "Schedule/Teacher Episodes": self.teacher_episodes,
                "Schedule/Handed Over": float(self.handover_at is not None),
                "Schedule/Teacher Length": self.teacher_length, "Schedule/Roll-in Horizon": self.rollin_horizon()}


def _ema(mean, value, weight):
    return value if mean is None else (1 - weight) * mean + weight * value


def make_schedule(config, score="success"):
    """The --teacher_schedule of config, comparing the task's score ("success" or "return")."""
    return {cls.name: cls for cls in (TeacherSchedule, AdaptiveSchedule)}[config.teacher_schedule](config, score)
