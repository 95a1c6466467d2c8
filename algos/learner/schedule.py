"""The teacher term's weight over a run, as one object with its own state (--teacher_schedule):

    schedule = make_schedule(config)
    coef = schedule.coef(iteration, env_steps)     # the weight of this iteration's update
    schedule.update(evidence)                      # what the iteration measured (see Evidence)
    schedule.metrics()                             # the weight's evidence, logged with every iteration
    schedule.state_dict() / load_state_dict(d)     # saved in every checkpoint: --resume and --fork restore it

paper       the official clock: teacher_coef - teacher_coef_decay * k, at least teacher_coef_min, 0 from
            k = teacher_off_after on (k: the iteration, or env steps / teacher_itr_steps). Evidence is ignored.
agreement   the clock until the student has learnt what the teacher can show it: KL(teacher || student) over the
            iteration's samples has stopped falling (its running mean, EMA 0.1, fell by less than the fraction
            teacher_kl_plateau over the last KL_WINDOW iterations) or has fallen to teacher_kl_target nats. A
            teacher whose actions the memory map does not determine (explore is random) leaves a KL the student can
            never remove, so the plateau, not a level, is the usual signal. Then the teacher hands over (below).
            Kickstarting (Schmitt et al. 2018) weights a distillation term by a schedule tuned per task by
            population-based training; here the distillation's own loss decides when to fade.
success     the clock until the student's success in the periodic evaluations (EMA) reaches teacher_success_ratio
            x the teacher's own success on the same evaluation episodes (measured once, before the first
            iteration). The hand-over test of jump-start RL (Uchendu et al. 2023), where the guide policy's share
            of each episode shrinks once the student matches the guide's return; here the guide's weight in the
            loss shrinks instead. A teacher that never succeeds is switched off at once, floor and all: a student
            that imitates a deterministic teacher that cannot succeed loses its entropy within a few iterations,
            even at a weight of 0.1, and PPO cannot explore again (bench/wrong_teacher.py). Never succeeding means
            in none of up to teacher_eval_max episodes: one that fails all n evaluation episodes is measured on the
            next n too, and so on (ten episodes switched off BlockedUnlockPickup's teacher, which succeeds 14% of
            the time, 2026-11-25).
handover    either evidence: the teacher steps aside when the student has absorbed it or has caught up with it.
handover_rollin
            handover's weight, and the teacher also acts: every episode begins with a teacher roll-in of 0..H steps
            (algos/learner/rollin.py), H = the teacher's mean episode length on the evaluation episodes x (1 - the student's
            evaluation success EMA / the success target, below), so the roll-ins shrink to
            nothing as the student catches up: jump-start RL's curriculum (Uchendu et al. 2023), with a random
            switch step as in its JSRL-Random, and the evidence of `success` deciding the horizon.
adaptive    success's weight with the same roll-ins: the teacher steps aside only once the student has caught up
            with it, never because the KL has flattened, as in jump-start RL itself. On LavaDoorKey the student
            keeps improving under its teacher long after the KL has flattened, and handover_rollin's KL test handed
            over too early there. Better than handover_rollin on LavaDoorKey, level with it on ColoredDoorKey,
            and the one --teacher_schedule adaptive names (the comparison: docs/teacher_schedule.md).

Caught up: the student's evaluation success EMA is at least teacher_success_ratio x the teacher's success on the n
evaluation episodes, a target never above (n + 1) / (n + 2) (Laplace's estimate for a perfect record: 0.917 for
10). An EMA reaches a perfect teacher's raw 1.0 only after an unbroken run of perfect evaluations (about 50 in
double precision), so without the cap such a teacher was caught up with hundreds of thousands of env steps after
the student had matched it (SimpleDoorKey, 2026-11-25); a teacher that failed once or more is unaffected.

Handing over: from the iteration the evidence first holds, the weight is multiplied by teacher_handover_factor
** (the iteration's env steps / teacher_handover_steps) every iteration, down to teacher_coef_min (the floor stays
on: students of the pickup tasks collapsed with the term off), never above the paper clock (so it is also 0 after
teacher_off_after). It is not taken back. teacher_handover_steps 0: per iteration, as before 2026-11-26 (36k-86k
env steps on the DoorKey tasks, more than 1M on the pickup tasks, whose iterations are 10-20x longer).
"""
import math
from dataclasses import dataclass
from typing import Optional

SCHEDULES = ("paper", "agreement", "success", "handover", "handover_rollin", "adaptive")
EMA_KL = 0.1          # the KL's running mean: each iteration's value weighs 0.1
KL_WINDOW = 50        # iterations over which the KL's fall is measured
# what a schedule name meant in checkpoints written before states held their design: adaptive handed over on the
# KL too until 2026-11-25 (that design is handover_rollin now)
FORMER_DESIGNS = {"adaptive": {"kl": True, "success": True, "rollins": True}}
EMA_SUCCESS = 0.5     # the student's evaluation success: each evaluation weighs 0.5 (10 episodes each by default)
TARGET_RULE = "laplace"  # the success target's rule, saved with the state: capped at (n + 1) / (n + 2) since 2026-11-25


@dataclass
class Evidence:
    """What one iteration measured: kl, the mean KL(teacher || student) over its samples (None when the term was
    off); student_success, the periodic evaluation's success rate (None when it did not evaluate);
    teacher_success and teacher_length, the teacher alone on the same evaluation episodes: its success rate and
    mean episode length (None unless measured now), over teacher_episodes episodes."""
    kl: Optional[float] = None
    student_success: Optional[float] = None
    teacher_success: Optional[float] = None
    teacher_length: Optional[float] = None
    teacher_episodes: Optional[int] = None


def paper_coef(config, iteration, env_steps=0):
    """The official annealed coefficient at an iteration (and always 0 when teacher_coef is 0: plain PPO)."""
    k = iteration if config.teacher_itr_steps <= 0 else env_steps / config.teacher_itr_steps
    if config.teacher_coef <= 0 or k >= config.teacher_off_after:
        return 0.0
    return max(config.teacher_coef - config.teacher_coef_decay * k, config.teacher_coef_min)


class TeacherSchedule:
    """The paper's clock; subclasses add a hand-over driven by evidence."""
    name = "paper"
    uses_kl = uses_success = False
    rolls_in = False             # whether the teacher also acts (roll-ins at episode starts)

    def __init__(self, config):
        self.config = config
        self.handover_at = None      # the iteration the hand-over began (None: not yet)
        self.factor = 1.0            # the hand-over's multiplier so far
        self.kl_ema = None
        self.kl_history = []         # the running mean after each of the last KL_WINDOW + 1 iterations with a KL
        self.student_ema = None
        self.teacher_success = None
        self.teacher_length = None
        self.teacher_episodes = None  # how many episodes teacher_success was measured on
        self.env_steps = None        # the env-step count after the last update (the hand-over's pace per env step)

    # -- the weight -------------------------------------------------------------------------------------------
    def coef(self, iteration, env_steps=0):
        clock = paper_coef(self.config, iteration, env_steps)
        if self.handover_at is None or clock <= 0:
            return clock
        if self.teacher_success == 0.0:  # a teacher that never succeeds is switched off, floor and all
            return 0.0
        return min(clock, max(self.config.teacher_coef * self.factor, self.config.teacher_coef_min))

    def rollin_horizon(self):
        """The longest teacher roll-in for episodes starting now (0: the student acts throughout)."""
        return 0

    def needs_teacher_success(self):
        """Whether the trainer should measure the teacher alone on the evaluation episodes now."""
        return self.uses_success and self.teacher_success is None and self.config.teacher_coef > 0

    def update(self, iteration, env_steps, evidence):
        """Take in what the iteration that just finished measured (iteration, env_steps: the counts after it)."""
        if evidence.kl is not None and math.isfinite(evidence.kl):
            self.kl_ema = _ema(self.kl_ema, evidence.kl, EMA_KL)
            self.kl_history = (self.kl_history + [self.kl_ema])[-(KL_WINDOW + 1):]
        if evidence.teacher_success is not None:
            self.teacher_success = float(evidence.teacher_success)
        if evidence.teacher_length is not None:
            self.teacher_length = float(evidence.teacher_length)
        if evidence.teacher_episodes is not None:
            self.teacher_episodes = int(evidence.teacher_episodes)
        if evidence.student_success is not None:
            self.student_ema = _ema(self.student_ema, float(evidence.student_success), EMA_SUCCESS)
        step = self.handover_step(env_steps)
        self.env_steps = int(env_steps)
        if self.handover_at is not None:
            self.factor *= step
        elif self.ready():
            self.handover_at = iteration  # from the clock's weight now, the first step down
            clock = paper_coef(self.config, iteration, env_steps) / max(self.config.teacher_coef, 1e-12)
            self.factor = min(1.0, clock) * step

    def handover_step(self, env_steps):
        """The hand-over's multiplier for the iteration that ended at env_steps: teacher_handover_factor, or with
        teacher_handover_steps N > 0 that factor per N of the iteration's env steps (one factor when the previous
        count is unknown: a state saved before it was kept)."""
        factor, per = self.config.teacher_handover_factor, self.config.teacher_handover_steps
        if per <= 0 or self.env_steps is None:
            return factor
        return factor ** (max(0, int(env_steps) - self.env_steps) / per)

    def ready(self):
        return False

    def absorbed(self):
        if not self.uses_kl or len(self.kl_history) <= KL_WINDOW:
            return False
        plateau = self.kl_ema >= (1 - self.config.teacher_kl_plateau) * self.kl_history[0]
        return plateau or self.kl_ema <= self.config.teacher_kl_target

    def caught_up(self):
        target = self.success_target()
        return self.uses_success and target is not None and self.student_ema is not None and self.student_ema >= target

    def success_target(self, teacher_success=None, rule=TARGET_RULE):
        """The student's evaluation success EMA that has caught up with the teacher (None: not measured yet):
        teacher_success_ratio x the teacher's success (this schedule's, unless given), at most (n + 1) / (n + 2) for n
        evaluation episodes under today's rule; the raw product under the rule of earlier checkpoints."""
        teacher = self.teacher_success if teacher_success is None else teacher_success
        if teacher is None:
            return None
        raw = self.config.teacher_success_ratio * teacher
        n = self.config.num_eval
        return min(raw, (n + 1) / (n + 2)) if rule == TARGET_RULE else raw

    # -- logs and checkpoints ---------------------------------------------------------------------------------
    def metrics(self):
        """The evidence behind the weight, for metrics.csv and TensorBoard (None: not measured); none for the
        paper clock, which reads no evidence."""
        if self.name == "paper":
            return {}
        fall = None if len(self.kl_history) <= KL_WINDOW or not self.kl_history[0] else \
            1 - self.kl_ema / self.kl_history[0]
        return {"Schedule/Teacher KL EMA": self.kl_ema, "Schedule/Teacher KL Fall": fall,
                "Schedule/Student Success EMA": self.student_ema,
                "Schedule/Teacher Success": self.teacher_success,
                "Schedule/Teacher Episodes": self.teacher_episodes,
                "Schedule/Handed Over": float(self.handover_at is not None)} | self.rollin_metrics()

    def rollin_metrics(self):
        return {}

    def state_dict(self):
        return {"name": self.name, "handover_at": self.handover_at, "factor": self.factor, "kl_ema": self.kl_ema,
                "kl_history": list(self.kl_history), "student_ema": self.student_ema,
                "teacher_success": self.teacher_success,
                "teacher_length": self.teacher_length, "teacher_episodes": self.teacher_episodes,
                "env_steps": self.env_steps, "design": self.design(), "target_rule": TARGET_RULE}

    def design(self):
        """What this schedule reads and does, saved with its state: a name that came to mean another design is
        not resumed as the new one."""
        return {"kl": self.uses_kl, "success": self.uses_success, "rollins": self.rolls_in}

    def load_state_dict(self, state):
        """Restore a checkpoint's state; a state of another schedule (a --fork that changed --teacher_schedule)
        starts this one afresh. ValueError for a state that is not one."""
        if not isinstance(state, dict) or "name" not in state:
            raise ValueError("the teacher schedule's state is not a dict with a name")
        if state["name"] != self.name:
            return
        design = state.get("design", FORMER_DESIGNS.get(self.name, self.design()))
        if design != self.design():
            raise ValueError(f"its {self.name} schedule is an earlier design of that name ({_describe(design)}; "
                             f"today's: {_describe(self.design())}); fork it with another --teacher_schedule, "
                             "which starts afresh")
        teacher = state.get("teacher_success")
        if self.uses_success and teacher is not None:
            saved = self.success_target(float(teacher), state.get("target_rule"))
            today = self.success_target(float(teacher))
            if saved != today:
                raise ValueError(f"its {self.name} schedule hands over at the teacher's raw success {saved:g}, an "
                                 f"earlier rule (today's target: {today:.3f}); fork it with another "
                                 "--teacher_schedule, which starts afresh")
            if teacher == 0 and state.get("teacher_episodes") is None and \
                    self.config.teacher_eval_max > self.config.num_eval:
                raise ValueError(f"its {self.name} schedule switched its teacher off after {self.config.num_eval} "
                                 "episodes without a success, an earlier rule (today's: up to --teacher_eval_max "
                                 f"{self.config.teacher_eval_max}); fork it with another --teacher_schedule, which "
                                 "starts afresh")
        self.handover_at = None if state["handover_at"] is None else int(state["handover_at"])
        self.factor = float(state["factor"])
        self.kl_history = [float(v) for v in state["kl_history"]]
        for key in ("kl_ema", "student_ema", "teacher_success", "teacher_length"):
            value = state.get(key)  # teacher_length: absent from checkpoints written before the roll-ins
            setattr(self, key, None if value is None else float(value))
        episodes = state.get("teacher_episodes")  # absent from checkpoints written before the longer measurement
        self.teacher_episodes = None if episodes is None else int(episodes)
        steps = state.get("env_steps")  # absent from checkpoints written before --teacher_handover_steps
        self.env_steps = None if steps is None else int(steps)


class AgreementSchedule(TeacherSchedule):
    name, uses_kl = "agreement", True

    def ready(self):
        return self.absorbed()


class SuccessSchedule(TeacherSchedule):
    name, uses_success = "success", True

    def ready(self):
        return self.caught_up()


class HandoverSchedule(TeacherSchedule):
    name, uses_kl, uses_success = "handover", True, True

    def ready(self):
        return self.absorbed() or self.caught_up()


class RollIns:
    """The roll-in horizon of the schedules whose teacher also acts (mixed in before a hand-over schedule)."""
    rolls_in = True

    def rollin_horizon(self):
        target = self.success_target() or 0.0
        if target <= 0 or not self.teacher_length:  # unmeasured, a teacher that never succeeds, or nothing to reach
            return 0
        caught_up = min(1.0, (self.student_ema or 0.0) / target)
        return int(round(self.teacher_length * (1.0 - caught_up)))

    def rollin_metrics(self):
        return {"Schedule/Teacher Length": self.teacher_length, "Schedule/Roll-in Horizon": self.rollin_horizon()}


class HandoverRollinSchedule(RollIns, HandoverSchedule):
    name = "handover_rollin"


class AdaptiveSchedule(RollIns, SuccessSchedule):
    name = "adaptive"


def _describe(design):
    return ", ".join(f"{'' if on else 'no '}{what}" for what, on in sorted(design.items()))


def _ema(mean, value, weight):
    return value if mean is None else (1 - weight) * mean + weight * value


def make_schedule(config):
    kinds = {cls.name: cls for cls in (TeacherSchedule, AgreementSchedule, SuccessSchedule, HandoverSchedule,
                                       HandoverRollinSchedule, AdaptiveSchedule)}
    return kinds[config.teacher_schedule](config)
