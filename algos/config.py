"""Every setting of a run, declared once (name, default, help, accepted values), in the spirit of CleanRL's `Args`:
the command line is made from these fields, the trainer reads them by the same names, and a run's config.json is
this dataclass. The planner's and the teacher's settings are declared next to their code and inherited here."""
import dataclasses
from dataclasses import dataclass
from typing import Optional

from algos.learner.pixel_encoders import NAMES as PIXEL_ENCODERS
from algos.learner.schedule import SCHEDULES
from teacher.config import TeacherConfig
from utils.errors import UserError
from utils.options import ALL, SEED, integers, numbers, option

EVAL = ("eval",)
TRAIN_ONLY = ("train",)
# the settings --policy sb3_ppo does not use (it trains with RL Zoo's own hyperparameters and has no teacher): the
# project's collection and PPO settings, the exploration bonus, and everything of the teacher and its planner
SB3_UNUSED = ("traj_per_itr", "batch_size", "rollout_steps", "epochs", "lr", "anneal_lr", "adam_eps", "gamma", "lam",
              "clip", "vf_coef", "ent_coef", "max_grad_norm", "num_envs", "precision", "count_bonus", "clone_steps",
              "clone_epochs", "clone_replay", "pixel_encoder")


def _seeds(values):
    if len(set(values)) != len(values):
        return f"a seed twice: {' '.join(map(str, values))}"
    return None


@dataclass
class Config(TeacherConfig):
    section = "run"

    # -- what and where (the official flags first) --------------------------------------------------------------
    task: str = option("SimpleDoorKey", "SimpleDoorKey | LavaDoorKey | ColoredDoorKey | TwoDoor (any case)",
                       commands=ALL)
    seed_list: list[int] = option([0], "one run per seed (torch, numpy, the envs of training)", commands=ALL,
                                  check=SEED)
    seed: int = option(0, "the seed of this run (one of seed_list)", cli=False, check=SEED)
    env_seed_list: list[int] = option(
        [1_000_000], "evaluation env seeds: evaluation episode i uses env seed s + i (never used in training)",
        commands=ALL, check=SEED)
    device: str = option("auto", "auto (cuda when available) | cpu | cuda | cuda:N", commands=ALL, resumable=True)
    frame_stack: int = option(1, "memory maps stacked as channels", commands=ALL, check=integers(1, 64))
    mission_mark: bool = option(False, "grid tasks: the mission's objects marked as a fifth map channel", commands=ALL)
    egocentric: bool = option(False, "grid students: the map turned and centred on the agent, pooled far from it")
    pixel_encoder: str = option("nature", "3D students' image encoder: nature (3 strided convolutions) | impala "
                                "(IMPALA's residual CNN)", choices=PIXEL_ENCODERS)
    recurrent: bool = option(False, "LSTM student (FC 256 -> 2-layer LSTM 256)", commands=ALL)
    lstm_residual: bool = option(False, "--recurrent: the heads see the LSTM output plus its input features")
    precision: str = option("fp32", "the student's forward passes: fp32 (the official) | bf16 (autocast to bfloat16)",
                            choices=("fp32", "bf16"), resumable=True)
    logdir: str = option("log", "root folder of all runs: <logdir>/ppo/<task>/<savedir>-<seed>/", commands=ALL,
                         resumable=True, metavar="DIR")
    savedir: Optional[str] = option(
        None, "train: the run's name (default run-<date>-<time>); eval: the results' folder", commands=ALL,
        metavar="NAME")
    resume: Optional[str] = option(None, "continue an interrupted run from its latest checkpoint",
                                   commands=TRAIN_ONLY, metavar="RUN_DIR")
    fork: Optional[str] = option(
        None, "start a new run from another run's latest checkpoint, with the flags given here", commands=TRAIN_ONLY,
        metavar="RUN")
    loaddir: Optional[str] = option(None, "the student to evaluate: a run folder, a run name, or a checkpoint file",
                                    commands=EVAL, metavar="RUN")
    loadmodel: str = option("latest", "checkpoint of --loaddir: latest | best | NAME.pt", commands=EVAL)
    eval_teacher: bool = option(False, "evaluate the teacher alone (no --loaddir needed)", commands=EVAL)

    # -- budget ---------------------------------------------------------------------------------------------------
    n_itr: int = option(20000, "PPO iterations", check=integers(1), resumable=True)
    max_env_steps: int = option(0, "stop after this many env steps (0: no limit)", check=integers(0),
                                resumable=True)

    # -- the learner ----------------------------------------------------------------------------------------------
    policy: str = option("ppo", "ppo (the project's PPO) | sb3_ppo (Stable-Baselines3's PPO, needs --teacher_coef 0)",
                         choices=("ppo", "sb3_ppo"))  # eval reads a student's policy from its checkpoint
    sb3_obs: str = option("memory", "what sb3_ppo's MLP sees: memory (the memory map) | egocentric (MiniGrid ids only)",
                          choices=("memory", "egocentric"))

    # -- collection and PPO ---------------------------------------------------------------------------------------
    traj_per_itr: int = option(10, "episodes collected per iteration, at least", check=integers(1))
    batch_size: int = option(128, "minibatch size; an iteration collects >= 2x this many steps", check=integers(1))
    rollout_steps: int = option(0, "steps per env per iteration, episodes going on (0: fresh episodes, the official)",
                                check=integers(0))
    epochs: int = option(3, "passes over each iteration's data", check=integers(1))
    lr: float = option(1e-3, "Adam learning rate", check=numbers(0))
    anneal_lr: bool = option(False, "decay the learning rate linearly to 0 over the run's budget")
    adam_eps: float = option(1e-8, "Adam epsilon", check=numbers(above=0))
    gamma: float = option(0.99, "discount", check=numbers(0, 1))
    lam: float = option(1.0, "GAE lambda; 1 = Monte-Carlo returns minus V, as the official code", check=numbers(0, 1))
    clip: float = option(0.2, "PPO clip range (policy and value)", check=numbers(0))
    vf_coef: float = option(0.5, "value loss coefficient", check=numbers(0))
    ent_coef: float = option(0.001, "entropy bonus coefficient", check=numbers(0))
    max_grad_norm: float = option(0.5, "gradient norm clip", check=numbers(0))
    num_envs: int = option(16, "environments stepped together (1: the official one-environment loop)",
                           check=integers(1, 4096))
    workers: int = option(-1, "worker processes for the envs and their teachers (-1: auto, none on 1-2 cores; "
                              "0: none)", check=integers(-1, 1024), resumable=True)

    # -- the teacher term -----------------------------------------------------------------------------------------
    teacher_schedule: str = option(
        "paper", "paper (the official clock) | adaptive (roll-ins; hand over once the student catches up)",
        choices=SCHEDULES)
    teacher_filter: str = option(
        "none", "samples imitated: none (all, the official) | advantage (where the advantage agrees)",
        choices=("none", "advantage"))
    teacher_coef: float = option(10.0, "initial teacher coefficient (0: plain PPO)", check=numbers(0))
    teacher_coef_decay: float = option(0.005, "subtracted per iteration", check=numbers(0))
    teacher_coef_min: float = option(0.1, "floor of the coefficient", check=numbers(0))
    teacher_off_after: int = option(3000, "the teacher term is off from this iteration on", check=integers(0))
    teacher_itr_steps: int = option(0, "a schedule iteration is this many env steps (0: a PPO iteration, the official)",
                                    check=integers(0))
    teacher_success_ratio: float = option(
        1.0, "adaptive: hand over once the student's success is this x the teacher's", check=numbers(0))
    teacher_eval_max: int = option(
        50, "adaptive: a teacher that fails an evaluation episode is measured on up to this many",
        check=integers(0, 100_000))
    teacher_handover_factor: float = option(0.95, "the coefficient's multiplier per --teacher_handover_steps env "
                                                  "steps once handing over", check=numbers(0, 1))
    teacher_handover_steps: int = option(
        500, "env steps per --teacher_handover_factor step of the hand-over (0: per iteration)", check=integers(0))
    teacher_eval_min: int = option(
        0, "adaptive: the teacher is measured on at least this many episodes (0: --num_eval)",
        check=integers(0, 100_000))
    teacher_smoothing: float = option(
        0.0, "label smoothing of the teacher's distribution the student imitates (0: none, the paper)",
        check=numbers(0, 1))

    clone_steps: int = option(0, "warm start: the student first clones the teacher driving this many env steps "
                                 "(0: none)", check=integers(0, 10_000_000))
    clone_epochs: int = option(8, "warm start: passes over the teacher's steps", check=integers(1, 1000))
    clone_replay: bool = option(False, "warm start: its steps stay in the loss, weighted as the teacher term (DAPG)")

    count_bonus: float = option(0.0, "beta of an episodic count bonus, beta / sqrt(visits this episode) (0: none)",
                                check=numbers(0))

    # -- evaluation, checkpoints, videos --------------------------------------------------------------------------
    eval_interval: int = option(10, "iterations between evaluations (0: never)", check=integers(0))
    num_eval: int = option(10, "evaluation episodes", commands=ALL, check=integers(1, 100_000))
    save_interval: int = option(100, "iterations between checkpoints (and the best one when evaluation improves)",
                                check=integers(0), resumable=True)
    save_minutes: float = option(10.0, "also checkpoint after this many minutes of training (0: only --save_interval)",
                                 check=numbers(0), resumable=True)
    keep_checkpoints: bool = option(False, "keep every checkpoint as checkpoints/itrNNNNNN.pt (for --fork)",
                                    resumable=True)
    video: int = option(1, "episodes in each video (eval: record the first N evaluation episodes)", commands=ALL,
                        command_defaults={"eval": 0}, check=integers(0, 1000))
    video_every: int = option(50, "record a training video every N evaluations", check=integers(0))
    max_videos: int = option(5, "training videos kept per run", check=integers(0))
    video_path: Optional[str] = option(None, "video file of eval --video (.gif or .mp4)", commands=EVAL,
                                       metavar="FILE")
    no_progress: bool = option(False, "plain progress lines even on a terminal", resumable=True)

    def public(self):
        """The settings as plain data to write down (config.json, checkpoints, TensorBoard): a password in
        --llm_url is replaced by ***; API keys are never settings at all."""
        from planner.llm.urls import redact
        data = dataclasses.asdict(self)
        if data["llm_url"]:
            data["llm_url"] = redact(data["llm_url"])
        return data

    def has_teacher(self):
        """Whether a run has a teacher at all (plain PPO without a warm start has none: no planner, table or
        server)."""
        return self.teacher_coef > 0 or self.clone_steps > 0

    def validate(self):
        super().validate()
        problem = _seeds(self.seed_list)
        if problem:
            raise UserError(f"--seed_list has {problem}")
        if self.clone_replay and not (self.clone_steps and self.teacher_coef > 0):
            raise UserError("--clone_replay replays a warm start's steps at the teacher term's weight: give "
                            "--clone_steps and a --teacher_coef above 0")
        if self.lstm_residual and not self.recurrent:
            raise UserError("--lstm_residual is a setting of the LSTM student: give --recurrent too")
        if self.policy == "sb3_ppo":
            if self.teacher_coef > 0:
                raise UserError(f"--policy sb3_ppo learns without a teacher: give --teacher_coef 0 (not "
                                f"{self.teacher_coef:g})")
            if self.recurrent or self.frame_stack != 1 or self.mission_mark or self.egocentric:
                raise UserError("--policy sb3_ppo: its MLP sees one observation (no --recurrent, --frame_stack 1, "
                                "--mission_mark, --egocentric)")
            unused = [f"--{name}" for name in sb3_unused() if getattr(self, name) != default(name)]
            if unused:
                raise UserError(f"--policy sb3_ppo trains with RL Zoo's hyperparameters and no teacher: "
                                f"{', '.join(unused)} would be ignored (leave them out)")
        elif self.sb3_obs != "memory":
            raise UserError("--sb3_obs is a setting of --policy sb3_ppo")
        if self.teacher_texts == "reduced" and self.task:  # a task without reduced texts: refused here, not later
            from planner.task_spec import task_config, texts_task
            texts_task(task_config(self.task), self.teacher_texts, True)
        if (self.mission_mark or self.egocentric or self.sighted_teacher or self.pixel_encoder != "nature") \
                and self.task:
            from env import is_miniworld
            from planner.task_spec import task_config
            seen_as_image = is_miniworld(task_config(self.task)["env_id"])
            if seen_as_image and (self.mission_mark or self.egocentric):
                flag = "--mission_mark marks" if self.mission_mark else "--egocentric turns"
                raise UserError(f"{flag} a grid task's map; {self.task} is seen as an image")
            if self.pixel_encoder != "nature" and not seen_as_image:
                raise UserError(f"--pixel_encoder encodes a 3D task's image; {self.task} is a grid task (its map: "
                                f"--egocentric)")
            if self.sighted_teacher and not seen_as_image:
                raise UserError(f"--sighted_teacher is a 3D task's setting (what its camera shows); {self.task} is a "
                                f"grid task")
        if self.sighted_teacher and self.teacher_schedule == "adaptive":
            raise UserError("--sighted_teacher leaves blind steps without advice, where an adaptive roll-in would "
                            "end: give --teacher_schedule paper")
        if self.llm_generalise > 0 and not self.uses_llm():
            raise UserError("--llm_generalise models a live LLM's answers: give --llm_url too (recorded answers "
                            "answer every text they have)")
        if self.teacher_schedule == "adaptive" and self.teacher_coef > 0 and self.eval_interval <= 0:
            raise UserError("--teacher_schedule adaptive hands over on the periodic evaluations: give --eval_interval "
                            "1 or more (or --teacher_schedule paper)")


def default(name):
    f = Config.__dataclass_fields__[name]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def sb3_unused():
    """The names of the settings --policy sb3_ppo does not use."""
    teacher = [f.name for f in dataclasses.fields(TeacherConfig)]
    schedule = [f.name for f in dataclasses.fields(Config) if f.name.startswith("teacher_") and f.name != "teacher_coef"]
    return list(SB3_UNUSED) + schedule + teacher
