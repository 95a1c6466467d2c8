"""--teacher_schedule: the paper's clock, and the schedules that hand over on evidence (algos/learner/schedule.py)."""
import json
import os

import pytest

import main
from algos.config import Config
from algos.learner.schedule import SCHEDULES, Evidence, make_schedule, paper_coef
from tests.helpers import read_metrics, tiny_train_args


def falling_then_flat(i, flat_from=100):
    """A KL that falls for `flat_from` iterations and then stays level (the student has learnt what it can)."""
    return 1.0 + max(0, flat_from - i) / flat_from


ITERATION_STEPS = 500  # env steps per iteration in feed: the hand-over's default pace is x0.95 per 500 env steps


def feed(schedule, iterations, kl=falling_then_flat, student=None, teacher=None, start=1):
    coefs = []
    for i in range(start, start + iterations):
        schedule.update(i, ITERATION_STEPS * i, Evidence(kl=kl(i) if kl else None,
                                                         student_success=student(i) if student else None,
                                                         teacher_success=teacher(i) if teacher else None))
        coefs.append(schedule.coef(i, ITERATION_STEPS * i))
    return coefs


def test_paper_is_the_official_clock_whatever_the_evidence():
    config = Config()
    schedule = make_schedule(config)
    coefs = feed(schedule, 3500, student=lambda i: 1.0, teacher=lambda i: 0.0)
    assert coefs == [paper_coef(config, i) for i in range(1, 3501)]
    assert schedule.metrics() == {}  # the clock reads no evidence: nothing to log


@pytest.mark.parametrize("name", ["agreement", "handover", "handover_rollin"])
def test_the_teacher_hands_over_once_the_kl_stops_falling(name):
    config = Config(teacher_schedule=name)
    schedule = make_schedule(config)
    coefs = feed(schedule, 400)
    start = schedule.handover_at
    assert start is not None and 100 < start < 250  # not while the KL still falls, soon after it is level
    before = coefs[:start - 1]
    assert before == [paper_coef(config, i) for i in range(1, start)]
    after = coefs[start - 1:]
    assert all(c <= paper_coef(config, i) for c, i in zip(after, range(start, 401)))
    assert all(b <= a for a, b in zip(after, after[1:]))                  # it only falls ...
    assert after[0] == pytest.approx(paper_coef(config, start) * 0.95)  # ... from the clock's value, x0.95 a step
    assert after[-1] == config.teacher_coef_min                            # ... down to the floor, which stays
    # a KL that rises again does not take the hand-over back
    feed(schedule, 50, kl=lambda i: 5.0, start=401)
    assert schedule.coef(450) == config.teacher_coef_min


def test_a_kl_that_keeps_falling_keeps_the_clock():
    config = Config(teacher_schedule="agreement")
    schedule = make_schedule(config)
    coefs = feed(schedule, 200, kl=lambda i: 2.0 * 0.99 ** i)  # 1% less every iteration: still learning
    assert schedule.handover_at is None and coefs == [paper_coef(config, i) for i in range(1, 201)]
    feed(schedule, 1, kl=lambda i: 0.05, start=201)
    assert schedule.handover_at is None                      # the running mean, not one value, decides
    feed(schedule, 40, kl=lambda i: 0.01, start=202)
    assert schedule.handover_at is not None  # at or below --teacher_kl_target


def test_success_waits_for_the_student_to_reach_the_teacher():
    config = Config(teacher_schedule="success")
    schedule = make_schedule(config)
    every10 = lambda value: (lambda i: value if i % 10 == 0 else None)  # noqa: E731  (an evaluation every 10)
    feed(schedule, 10, kl=None, teacher=lambda i: 0.8 if i == 10 else None, student=every10(0.3))
    feed(schedule, 90, kl=None, student=every10(0.7), start=11)
    assert schedule.handover_at is None and schedule.teacher_success == 0.8
    feed(schedule, 20, kl=None, student=every10(0.9), start=101)
    assert schedule.handover_at == 120  # the running mean: 0.7 -> 0.8 -> 0.85 >= 0.8 at the second one
    assert make_schedule(config).needs_teacher_success()  # measured once, at the first evaluation
    assert not schedule.needs_teacher_success()


def test_adaptive_keeps_the_clock_through_a_kl_plateau_and_hands_over_once_caught_up():
    """adaptive hands over on the student's success alone: a flat KL (which hands handover_rollin over) does not
    move it."""
    config = Config(teacher_schedule="adaptive")
    every10 = lambda value: (lambda i: value if i % 10 == 0 else None)  # noqa: E731  (an evaluation every 10)
    adaptive, kl = make_schedule(config), make_schedule(Config(teacher_schedule="handover_rollin"))
    coefs = {}
    for schedule in (adaptive, kl):
        schedule.update(0, 0, Evidence(student_success=0.4, teacher_success=0.8, teacher_length=40.0))  # as trained
        coefs[schedule.name] = feed(schedule, 300, kl=lambda i: 1.2, student=every10(0.4))  # a flat KL
    assert kl.handover_at is not None
    assert adaptive.handover_at is None and coefs["adaptive"] == [paper_coef(config, i) for i in range(1, 301)]
    assert adaptive.rollin_horizon() == 20                        # the teacher still rolls in: the student is behind
    feed(adaptive, 20, kl=lambda i: 1.2, student=every10(1.0), start=301)
    assert adaptive.handover_at == 320                           # EMA 0.4 -> 0.7 -> 0.85 >= 0.8 at the 2nd
    assert adaptive.rollin_horizon() == 0 and adaptive.coef(320) < paper_coef(config, 320)


def test_a_perfect_teacher_is_caught_up_with_by_a_student_at_laplaces_estimate_of_it():
    """A teacher that succeeded in all 10 evaluation episodes sets a target of 11/12, not 1.0, which an EMA reaches
    only after an unbroken run of perfect evaluations; a teacher that failed once keeps its own success."""
    every10 = lambda values: (lambda i: values[i // 10 - 1] if i % 10 == 0 else None)  # noqa: E731
    perfect = make_schedule(Config(teacher_schedule="adaptive"))
    perfect.update(0, 0, Evidence(student_success=0.5, teacher_success=1.0, teacher_length=30.0))
    feed(perfect, 30, kl=None, student=every10([0.9, 1.0, 1.0]))
    assert perfect.success_target() == pytest.approx(11 / 12)
    assert perfect.handover_at == 30                    # EMA 0.5 -> 0.7 -> 0.85 -> 0.925 >= 0.917 at the last
    assert perfect.rollin_horizon() == 0
    raw = perfect.success_target(1.0, rule=None)        # the rule of earlier checkpoints: the raw 1.0
    assert raw == 1.0 and perfect.student_ema < raw
    imperfect = make_schedule(Config(teacher_schedule="adaptive"))
    imperfect.update(0, 0, Evidence(student_success=0.5, teacher_success=0.9, teacher_length=30.0))
    assert imperfect.success_target() == 0.9          # a teacher that failed once: its own success, as before
    feed(imperfect, 30, kl=None, student=every10([0.9, 0.9, 0.8]))
    assert imperfect.handover_at is None              # EMA 0.7 -> 0.8 -> 0.8 < 0.9
    small = make_schedule(Config(teacher_schedule="success", num_eval=4))
    assert small.success_target(1.0) == pytest.approx(5 / 6)


def test_a_teacher_that_never_succeeds_hands_over_at_the_first_evaluation():
    config = Config(teacher_schedule="adaptive")
    schedule = make_schedule(config)
    feed(schedule, 10, kl=lambda i: 1.9 - 0.01 * i, teacher=lambda i: 0.0 if i == 10 else None,
         student=lambda i: 0.0 if i == 10 else None)
    assert schedule.handover_at == 10
    assert schedule.coef(11) == 0.0  # nothing to hand over: the term is off at once, floor and all


def weight_after_a_hand_over(config, iteration_steps, env_steps=25_000):
    """The weight of an adaptive schedule whose student caught up at iteration 1, after the iteration that ends at
    env_steps, with iterations of iteration_steps env steps each."""
    schedule = make_schedule(config)
    schedule.update(0, 0, Evidence(teacher_success=0.5, teacher_length=50.0, teacher_episodes=10))
    for i in range(1, env_steps // iteration_steps + 1):
        schedule.update(i, i * iteration_steps, Evidence(kl=1.0, student_success=0.9 if i == 1 else None))
    assert schedule.handover_at == 1
    return schedule.coef(i, i * iteration_steps)


def test_the_hand_over_takes_as_many_env_steps_on_long_iterations_with_teacher_handover_steps():
    """Per iteration (--teacher_handover_steps 0, before 2026-11-26), a hand-over on iterations of 5,000 env steps
    (the pickup tasks) takes 10x the env steps of one on iterations of 500 (DoorKey); per 500 env steps (the
    default) it takes the same env steps on both."""
    per_iteration = Config(teacher_schedule="adaptive", teacher_handover_steps=0)
    short, long = (weight_after_a_hand_over(per_iteration, n) for n in (500, 5000))
    assert short == pytest.approx(10 * 0.9995 * 0.95 ** 50) and long == pytest.approx(10 * 0.9995 * 0.95 ** 5)
    per_steps = Config(teacher_schedule="adaptive")  # the default: x0.95 per 500 env steps
    assert per_steps.teacher_handover_steps == 500
    assert weight_after_a_hand_over(per_steps, 500) == pytest.approx(short)  # 500-step iterations: as before
    assert weight_after_a_hand_over(per_steps, 5000) == pytest.approx(short)
    assert weight_after_a_hand_over(per_steps, 5000, 100_000) == per_steps.teacher_coef_min  # down to the floor


@pytest.mark.parametrize("handover_steps", [0, 700])
@pytest.mark.parametrize("name", SCHEDULES)
def test_state_dict_restores_the_schedule_exactly(name, handover_steps):
    config = Config(teacher_schedule=name, teacher_handover_steps=handover_steps)
    every10 = lambda i: (0.02 * i if i % 10 == 0 else None)  # noqa: E731
    straight = make_schedule(config)
    feed(straight, 300, student=every10, teacher=lambda i: 0.9 if i == 10 else None)
    first = make_schedule(config)
    feed(first, 150, student=every10, teacher=lambda i: 0.9 if i == 10 else None)
    second = make_schedule(config)
    second.load_state_dict(json.loads(json.dumps(first.state_dict())))  # as plain data, as a checkpoint holds it
    feed(second, 150, student=every10, start=151)
    assert second.state_dict() == straight.state_dict() and second.metrics() == straight.metrics()
    assert second.coef(300, 300_000) == straight.coef(300, 300_000)


def test_a_name_that_changed_its_design_is_not_resumed_as_the_new_one():
    """adaptive handed over on the KL too until 2026-11-25 (now handover_rollin): its older states, which hold no
    design, are refused rather than resumed as today's adaptive; handover_rollin's own states load."""
    old = make_schedule(Config(teacher_schedule="handover_rollin"))
    feed(old, 100)
    state = dict(old.state_dict(), name="adaptive")
    del state["design"]                                    # as checkpoints before the design was saved
    with pytest.raises(ValueError, match="earlier design"):
        make_schedule(Config(teacher_schedule="adaptive")).load_state_dict(state)
    again = make_schedule(Config(teacher_schedule="handover_rollin"))
    again.load_state_dict(old.state_dict())
    assert again.state_dict() == old.state_dict()
    undesigned = {k: v for k, v in make_schedule(Config(teacher_schedule="handover")).state_dict().items()
                  if k != "design"}
    make_schedule(Config(teacher_schedule="handover")).load_state_dict(undesigned)  # unchanged names load as before
    # a state from before the success target was capped loads where the cap changes nothing, and is refused where
    # its teacher was perfect (its target was the raw 1.0)
    for teacher, refused in ((0.8, False), (1.0, True)):
        before = make_schedule(Config(teacher_schedule="adaptive"))
        before.update(0, 0, Evidence(student_success=0.5, teacher_success=teacher, teacher_length=30.0))
        state = {k: v for k, v in before.state_dict().items() if k != "target_rule"}
        if refused:
            with pytest.raises(ValueError, match="raw success 1, an earlier rule"):
                make_schedule(Config(teacher_schedule="adaptive")).load_state_dict(state)
        else:
            make_schedule(Config(teacher_schedule="adaptive")).load_state_dict(state)
    # a state whose teacher was switched off after the n evaluation episodes alone (before --teacher_eval_max) is
    # refused; one measured under today's rule loads
    off = make_schedule(Config(teacher_schedule="adaptive"))
    off.update(0, 0, Evidence(student_success=0.0, teacher_success=0.0, teacher_length=300.0, teacher_episodes=50))
    make_schedule(Config(teacher_schedule="adaptive")).load_state_dict(off.state_dict())
    with pytest.raises(ValueError, match="switched its teacher off after 10 episodes"):
        make_schedule(Config(teacher_schedule="adaptive")).load_state_dict(
            {k: v for k, v in off.state_dict().items() if k != "teacher_episodes"})


def test_a_fork_to_another_schedule_starts_it_afresh_and_junk_is_refused():
    handed = make_schedule(Config(teacher_schedule="agreement"))
    feed(handed, 300)
    assert handed.handover_at is not None
    other = make_schedule(Config(teacher_schedule="success"))
    other.load_state_dict(handed.state_dict())
    assert other.state_dict() == make_schedule(Config(teacher_schedule="success")).state_dict()
    with pytest.raises(ValueError):
        other.load_state_dict(["not", "a", "state"])


def test_plain_ppo_stays_plain_under_every_schedule():
    for name in SCHEDULES:
        schedule = make_schedule(Config(teacher_schedule=name, teacher_coef=0.0))
        assert set(feed(schedule, 200, teacher=lambda i: 0.0, student=lambda i: 0.0)) == {0.0}


def explore_only_table(path):
    """A teacher that only ever explores: on SimpleDoorKey it never opens the door (success 0)."""
    table = {"format": "llm4teach-answers", "version": 1, "name": "explore-only", "source": "tests",
             "tasks": {"SimpleDoorKey": {"provenance": {"model": "none"},
                                         "answers": {t: {"plans": ["explore"], "probs": [1.0]} for t in (
                                             "Agent sees <nothing>, holds <nothing>.",
                                             "Agent sees <key>, holds <nothing>.",
                                             "Agent sees <door>, holds <nothing>.",
                                             "Agent sees <key>, <door>, holds <nothing>.",
                                             "Agent sees <door>, holds <key>.",
                                             "Agent sees <nothing>, holds <key>.")}}}}
    path.write_text(json.dumps(table))
    return str(path)


def test_a_teacher_that_never_succeeds_is_handed_over_in_a_real_run(tmp_path):
    """The mechanism on a small case: a run taught by a teacher that only explores measures it before its first
    iteration (0 successes) and trains without the teacher term from the first iteration on."""
    answers = explore_only_table(tmp_path / "explore.json")
    extra = ["--teacher_schedule", "adaptive", "--answers", answers, "--num_eval", "3"]
    assert main.main(tiny_train_args(tmp_path, "bad", n_itr=4, extra=extra)) == 0
    rows = read_metrics(os.path.join(tmp_path, "ppo", "SimpleDoorKey", "bad-0"))
    assert [float(r["Schedule/Teacher Success"]) for r in rows] == [0.0] * 4
    most = Config().teacher_eval_max  # measured on batches of the 3 evaluation episodes, as many as fit in that
    assert [int(r["Schedule/Teacher Episodes"]) for r in rows] == [most // 3 * 3] * 4
    assert [float(r["Schedule/Handed Over"]) for r in rows] == [1.0] * 4
    assert [float(r["Train/Kickstarting Coef"]) for r in rows] == [0.0] * 4
    assert all(r["Train/Teacher KL"] == "" for r in rows)  # no teacher term, no KL logged


def test_a_teacher_that_fails_the_evaluation_episodes_is_measured_on_more_before_it_is_switched_off(tmp_path):
    """UnlockPickup's teacher succeeds about one time in five; on env seeds 1,000,006 and 1,000,007 it fails. With
    the measurement cut at those two episodes (--teacher_eval_max 2) it counts as never succeeding and is switched
    off; with up to 8 it is measured on the next two episodes too, succeeds there, and keeps teaching."""
    task_dir = os.path.join(tmp_path, "ppo", "MiniGrid-UnlockPickup-v0")
    rows = {}
    for most in (2, 8):
        extra = ["--task", "MiniGrid-UnlockPickup-v0", "--teacher_schedule", "adaptive", "--env_seed_list", "1000006",
                 "--teacher_eval_max", str(most)]
        assert main.main(tiny_train_args(tmp_path, f"most{most}", n_itr=1, extra=extra)) == 0
        rows[most] = read_metrics(os.path.join(task_dir, f"most{most}-0"))[0]
    cut, longer = rows[2], rows[8]
    assert (float(cut["Schedule/Teacher Success"]), int(cut["Schedule/Teacher Episodes"])) == (0.0, 2)
    assert float(cut["Train/Kickstarting Coef"]) == 0.0 and float(cut["Schedule/Handed Over"]) == 1.0
    episodes = int(longer["Schedule/Teacher Episodes"])
    assert 2 < episodes <= 8 and episodes % 2 == 0          # whole batches of the 2 evaluation episodes
    assert float(longer["Schedule/Teacher Success"]) * episodes >= 1  # it succeeded in the later batch
    assert float(longer["Train/Kickstarting Coef"]) == Config().teacher_coef
    assert float(longer["Schedule/Handed Over"]) == 0.0


def test_resume_and_fork_restore_the_schedule(tmp_path):
    """An adaptive run whose student is caught up with at once (--teacher_success_ratio 0) hands over before its
    first iteration, so its weight changes every iteration: stopped after 3 iterations and resumed to 6, it logs
    exactly the straight run's rows, and so does a fork of its 3-iteration checkpoint with the same settings; a fork
    to --teacher_schedule paper follows the clock from there."""
    extra = ["--teacher_schedule", "adaptive", "--teacher_success_ratio", "0"]
    task_dir = os.path.join(tmp_path, "ppo", "SimpleDoorKey")
    assert main.main(tiny_train_args(tmp_path, "straight", n_itr=6, extra=extra)) == 0
    assert main.main(tiny_train_args(tmp_path, "part", n_itr=3, extra=extra)) == 0
    part = os.path.join(task_dir, "part-0")
    assert main.main(["train", "--fork", part, "--savedir", "fork", "--n_itr", "6"]) == 0
    assert main.main(["train", "--fork", part, "--savedir", "paper", "--n_itr", "6", "--teacher_schedule",
                      "paper"]) == 0
    assert main.main(["train", "--resume", part, "--n_itr", "6"]) == 0
    want = read_metrics(os.path.join(task_dir, "straight-0"))
    coefs = [float(r["Train/Kickstarting Coef"]) for r in want]
    steps_before = [0] + [int(r["env_steps"]) for r in want[:-1]]  # x0.95 at the hand-over, then per 500 env steps
    assert coefs == pytest.approx([Config().teacher_coef * 0.95 * 0.95 ** (n / Config().teacher_handover_steps)
                                   for n in steps_before])
    assert read_metrics(part) == want
    assert read_metrics(os.path.join(task_dir, "fork-0")) == want
    paper = read_metrics(os.path.join(task_dir, "paper-0"))
    assert paper[:3] == [{k: r[k] for k in p} for r, p in zip(want[:3], paper[:3])]  # (no Schedule/ columns)
    assert [float(r["Train/Kickstarting Coef"]) for r in paper[3:]] == [paper_coef(Config(), i) for i in (3, 4, 5)]
