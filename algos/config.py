"""Every setting of a run, declared once (name, default, help, accepted values), in the spirit of CleanRL's `Args`:
the command line is made from these fields, the trainer reads them by the same names, and a run's config.json is
this dataclass. The planner's and the teacher's settings are declared next to their code and inherited here."""
import dataclasses
from dataclasses import dataclass
from typing import Optional

from algos.learner.schedule import SCHEDULES
from teacher.config import TeacherConfig
from utils.errors import UserError
from utils.options import ALL, SEED, integers, numbers, option

EVAL = ("eval",)
TRAIN_ONLY = ("train",)


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
    recurrent: bool = option(False, "LSTM student (FC 256 -> 2-layer LSTM 256)", commands=ALL)
    precision: str = option(
        "fp32", "the student's forward passes (collection, update, evaluation): fp32 (the official) | bf16 (autocast "
                "to bfloat16, weights and optimizer stay fp32; faster on CPUs with AVX-512 BF16 or AMX and on GPUs)",
        choices=("fp32", "bf16"), resumable=True)
    logdir: str = option("log", "root folder of all runs: <logdir>/ppo/<task>/<savedir>-<seed>/", commands=ALL,
                         resumable=True, metavar="DIR")
    savedir: Optional[str] = option(
        None, "train: the run's name (default run-<date>-<time>), its folder <savedir>-<seed>; eval: the folder name "
              "for the evaluation's results and videos", commands=ALL, metavar="NAME")
    resume: Optional[str] = option(None, "continue an interrupted run from its latest checkpoint",
                                   commands=TRAIN_ONLY, metavar="RUN_DIR")
    fork: Optional[str] = option(
        None, "start a new run (its own --savedir) where another run's latest checkpoint (or a checkpoint file) left "
              "off: its weights, optimizer, iteration, RNG and env states and metrics so far, with the settings given "
              "here changed (what-if experiments from the middle of a run)", commands=TRAIN_ONLY, metavar="RUN")
    loaddir: Optional[str] = option(None, "the student to evaluate: a run folder, a run name under "
                                          "<logdir>/ppo/<task>/, or a checkpoint file", commands=EVAL, metavar="RUN")
    loadmodel: str = option("latest", "checkpoint of --loaddir: latest | best | NAME.pt", commands=EVAL)
    eval_teacher: bool = option(False, "evaluate the teacher alone (no --loaddir needed)", commands=EVAL)

    # -- budget ---------------------------------------------------------------------------------------------------
    n_itr: int = option(20000, "PPO iterations", check=integers(1), resumable=True)
    max_env_steps: int = option(0, "stop after this many env steps (0: no limit)", check=integers(0),
                                resumable=True)

    # -- the learner ----------------------------------------------------------------------------------------------
    policy: str = option(
        "ppo", "the RL algorithm: ppo (the project's PPO, with the teacher term or without: --teacher_coef 0) | sb3_ppo "
               "(Stable-Baselines3's PPO with RL Baselines3 Zoo's MiniGrid hyperparameters, algos/run/sb3_trainer.py: the "
               "tuned plain-PPO baseline; needs --teacher_coef 0; the collection, PPO and teacher flags do not apply, "
               "the budget, seed and evaluation flags do; it cannot be resumed, a finished run is never retrained)",
        commands=ALL, choices=("ppo", "sb3_ppo"))
    sb3_obs: str = option(
        "memory", "what sb3_ppo's MLP sees: memory (the memory map the project's student sees, flattened; the "
                  "default: every task, the same information as --policy ppo, and ~5x the env steps/s of egocentric on "
                  "DoorKey-5x5, measured) | egocentric (minigrid's own 7x7 view and mission, FlatObsWrapper, as the "
                  "zoo wraps MiniGrid: registered MiniGrid ids only, not the project's tasks)",
        choices=("memory", "egocentric"))

    # -- collection and PPO ---------------------------------------------------------------------------------------
    traj_per_itr: int = option(10, "episodes collected per iteration, at least", check=integers(1))
    batch_size: int = option(128, "minibatch size; an iteration collects >= 2x this many steps", check=integers(1))
    rollout_steps: int = option(0, "steps per env per iteration, episodes going on from one iteration to the next "
                                   "(CleanRL's num_steps, SB3's n_steps; for tasks with long episodes); 0: the "
                                   "official iterations of fresh episodes (--traj_per_itr, 2x --batch_size)",
                                check=integers(0))
    epochs: int = option(3, "passes over each iteration's data", check=integers(1))
    lr: float = option(1e-3, "Adam learning rate", check=numbers(0))
    anneal_lr: bool = option(False, "decay the learning rate linearly to 0 over the run's budget (--n_itr, or "
                                    "--max_env_steps if that comes first), as CleanRL does; the official code keeps "
                                    "it constant")
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
        "paper", "the teacher coefficient's schedule: paper (the official clock below) | agreement (the clock until "
                 "KL(teacher || student) stops falling, then hand over) | success (the clock until the "
                 "student's evaluation success reaches --teacher_success_ratio x the teacher's, then hand over) | "
                 "handover (either); hand over: x --teacher_handover_factor per --teacher_handover_steps env steps "
                 "down to --teacher_coef_min | "
                 "handover_rollin (handover, and every episode begins with a teacher roll-in that shrinks as the "
                 "student catches up: jump-start RL) | adaptive (success, with those roll-ins; "
                 "docs/teacher_schedule.md)",
        choices=SCHEDULES)
    teacher_filter: str = option(
        "none", "which samples the teacher term imitates: none (every taught sample, the official) | advantage (a "
                "sample only where its advantage agrees: the student took the teacher's action and did better than "
                "expected, or another action and did worse) | advisor (each sample weighted by how well an auxiliary "
                "head trained only to imitate predicts the teacher there, exp(-teacher_gap_alpha x its cross-entropy): "
                "where the teacher acts on what the student cannot see, the student is left to RL) | trust (only "
                "the samples of observation texts where the student's steps that took the teacher's action had at "
                "least the mean advantage of those that did not, pooled over the text's visits; "
                "docs/teacher_schedule.md)", choices=("none", "advantage", "advisor", "trust"))
    teacher_gap_alpha: float = option(4.0, "advisor: the imitation weight of a sample is exp(-alpha x the auxiliary "
                                           "imitator's cross-entropy with the teacher there)", check=numbers(0))
    teacher_coef: float = option(10.0, "initial teacher coefficient (0: plain PPO)", check=numbers(0))
    teacher_coef_decay: float = option(0.005, "subtracted per iteration", check=numbers(0))
    teacher_coef_min: float = option(0.1, "floor of the coefficient", check=numbers(0))
    teacher_off_after: int = option(3000, "the teacher term is off from this iteration on", check=integers(0))
    teacher_itr_steps: int = option(
        0, "count the schedule's iterations in units of this many env steps instead of PPO iterations "
           "(0: PPO iterations, the official); makes the schedule independent of --num_envs", check=integers(0))
    teacher_kl_target: float = option(
        0.1, "agreement, handover, handover_rollin: hand over once the running mean of KL(teacher || student) is at "
             "most this many nats (or has stopped falling)", check=numbers(0))
    teacher_kl_plateau: float = option(
        0.15, "agreement, handover, handover_rollin: hand over once the KL's running mean fell by less than this "
              "fraction over the last 50 iterations (it has stopped falling)", check=numbers(0, 1))
    teacher_success_ratio: float = option(
        1.0, "success, handover, handover_rollin, adaptive: hand over once the student's evaluation success (running "
             "mean) is at least this x the teacher's on the same episodes (never above (n + 1) / (n + 2) for n "
             "evaluation episodes: 0.917 for 10)", check=numbers(0))
    teacher_eval_max: int = option(
        50, "success, handover, handover_rollin, adaptive: a teacher that succeeds in none of the --num_eval "
            "evaluation episodes is measured on the next --num_eval too, and so on up to this many episodes in all, "
            "and switched off only if it succeeds in none of them (a teacher that succeeds 14% of the time fails 10 "
            "in a row in 22% of runs, 50 in a row in 0.05%)", check=integers(0))
    teacher_handover_factor: float = option(0.95, "the coefficient's multiplier per --teacher_handover_steps env "
                                                  "steps once handing over",
                                            check=numbers(0, 1))
    teacher_handover_steps: int = option(
        500, "the hand-over's --teacher_handover_factor applies per this many env steps (0: per iteration, as "
             "before 2026-11-26), so it takes as many env steps on a task of long iterations (the pickup tasks: "
             "4,500-9,200 env steps each) as on one of short ones (DoorKey: ~450-500)", check=integers(0), before=0)

    teacher_eval_min: int = option(
        0, "success, handover, handover_rollin, adaptive: the teacher is measured on at least this many evaluation "
           "episodes (the --num_eval ones first, then the next ones in batches of --num_eval; 0: --num_eval): its "
           "success is the student's target, and one batch of 10 can be far off (TwoDoor's teacher: 0.2 on the "
           "first 10, 0.11 on the first 100)", check=integers(0))
    teacher_smoothing: float = option(
        0.0, "the target the student imitates is (1 - this) x the teacher's distribution + this x the uniform one "
             "(label smoothing): a deterministic teacher's one-hot target otherwise drives the student's entropy to "
             "~0 (TwoDoor: 0.001-0.01 nats), where PPO cannot explore again; 0.05 keeps about 0.25 nats over 7 "
             "actions. 0: none (the paper)", check=numbers(0, 1))

    count_bonus: float = option(0.0, "beta of an episodic count exploration bonus, beta / sqrt(visits of the state "
                                     "this episode) added to the training reward (E3B's episodic-count baseline; "
                                     "algos/vec_env/count_bonus.py); 0: none", check=numbers(0))

    # -- evaluation, checkpoints, videos --------------------------------------------------------------------------
    eval_interval: int = option(10, "iterations between evaluations (0: never)", check=integers(0))
    num_eval: int = option(10, "evaluation episodes", commands=ALL, check=integers(1, 100_000))
    save_interval: int = option(100, "iterations between checkpoints (the best-by-evaluation one is saved whenever "
                                     "evaluation improves)", check=integers(0), resumable=True)
    save_minutes: float = option(10.0, "also write a checkpoint when this many minutes of training passed since the "
                                       "last one (0: only every --save_interval iterations); long episodes make long "
                                       "iterations (DoorKey-16x16: ~41k env steps each)", check=numbers(0),
                                 resumable=True)
    keep_checkpoints: bool = option(False, "keep every checkpoint of the run as checkpoints/itrNNNNNN.pt besides "
                                           "latest.pt (starting points for --fork)", resumable=True)
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

    def validate(self):
        super().validate()
        problem = _seeds(self.seed_list)
        if problem:
            raise UserError(f"--seed_list has {problem}")
        if self.policy == "sb3_ppo":
            if self.teacher_coef > 0:
                raise UserError(f"--policy sb3_ppo learns without a teacher: give --teacher_coef 0 (not "
                                f"{self.teacher_coef:g})")
            if self.recurrent or self.frame_stack != 1:
                raise UserError("--policy sb3_ppo: its MLP sees one observation (no --recurrent, --frame_stack 1)")
        elif self.sb3_obs != "memory":
            raise UserError("--sb3_obs is a setting of --policy sb3_ppo")
