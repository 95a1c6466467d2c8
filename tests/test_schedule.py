"""--teacher_schedule: the paper's clock, and adaptive, which hands over once the student has caught up with its
teacher (algos/learner/schedule.py)."""
import json
import os

import pytest

import main
from algos.config import Config
from algos.learner.schedule import SCHEDULES, Evidence, make_schedule, paper_coef
from tests.helpers import read_metrics, tiny_train_args


ITERATION_STEPS = 500  # env steps per iteration in feed: the hand-over's default pace is x0.95 per 500 env steps


def feed(schedule, iterations, student=None, teacher=None, start=1):
    coefs = []
    for i in range(start, start + iterations):
        schedule.update(i, ITERATION_STEPS * i, Evidence(student_score=student(i) if student else None,
                                                         teacher_score=teacher(i) if teacher else None))
        coefs.append(schedule.coef(i, ITERATION_STEPS * i))
    return coefs


def test_paper_is_the_official_clock_whatever_the_evidence():
    config = Config()
    schedule = make_schedule(config)
    coefs = feed(schedule, 3500, student=lambda i: 1.0, teacher=lambda i: 0.0)
    assert coefs == [paper_coef(config, i) for i in range(1, 3501)]
    assert schedule.metrics() == {}  # the clock reads no evidence: nothing to log


def test_adaptive_waits_for_the_student_to_reach_the_teacher():
    config = Config(teacher_schedule="adaptive")
    schedule = make_schedule(config)
    every10 = lambda value: (lambda i: value if i % 10 == 0 else None)  # noqa: E731  (an evaluation every 10)
    feed(schedule, 10, teacher=lambda i: 0.8 if i == 10 else None, student=every10(0.3))
    coefs = feed(schedule, 90, student=every10(0.7), start=11)
    assert schedule.handover_at is None and schedule.teacher_score == 0.8
    assert coefs == [paper_coef(config, i) for i in range(11, 101)]  # the clock until then
    feed(schedule, 20, student=every10(0.9), start=101)
    assert schedule.handover_at == 120  # the running mean: 0.7 -> 0.8 -> 0.85 >= 0.8 at the second one
    assert make_schedule(config).needs_teacher_score()  # measured once, at the first evaluation
    assert not schedule.needs_teacher_score()


def test_adaptive_keeps_the_clock_and_its_roll_ins_while_the_student_is_behind_and_hands_over_once_caught_up():
    config = Config(teacher_schedule="adaptive")
    every10 = lambda value: (lambda i: value if i % 10 == 0 else None)  # noqa: E731  (an evaluation every 10)
    adaptive = make_schedule(config)
    adaptive.update(0, 0, Evidence(student_score=0.4, teacher_score=0.8, teacher_length=40.0))  # as trained
    coefs = feed(adaptive, 300, student=every10(0.4))                # a student stuck at half its teacher's success
    assert adaptive.handover_at is None and coefs == [paper_coef(config, i) for i in range(1, 301)]
    assert adaptive.rollin_horizon() == 20                        # the teacher still rolls in: the student is behind
    feed(adaptive, 20, student=every10(1.0), start=301)
    assert adaptive.handover_at == 320                           # EMA 0.4 -> 0.7 -> 0.85 >= 0.8 at the 2nd
    assert adaptive.rollin_horizon() == 0 and adaptive.coef(320) < paper_coef(config, 320)


def test_a_perfect_teacher_is_caught_up_with_by_a_student_at_laplaces_estimate_of_it():
    """A teacher that succeeded in all 10 evaluation episodes sets a target of 11/12, not 1.0, which an EMA reaches
    only after an unbroken run of perfect evaluations; a teacher that failed once keeps its own success."""
    every10 = lambda values: (lambda i: values[i // 10 - 1] if i % 10 == 0 else None)  # noqa: E731
    perfect = make_schedule(Config(teacher_schedule="adaptive"))
    perfect.update(0, 0, Evidence(student_score=0.5, teacher_score=1.0, teacher_length=30.0))
    feed(perfect, 30, student=every10([0.9, 1.0, 1.0]))
    assert perfect.score_target() == pytest.approx(11 / 12)
    assert perfect.handover_at == 30                    # EMA 0.5 -> 0.7 -> 0.85 -> 0.925 >= 0.917 at the last
    assert perfect.rollin_horizon() == 0
    assert perfect.student_ema < 1.0                    # the raw 1.0 would never have been reached
    imperfect = make_schedule(Config(teacher_schedule="adaptive"))
    imperfect.update(0, 0, Evidence(student_score=0.5, teacher_score=0.9, teacher_length=30.0))
    assert imperfect.score_target() == 0.9          # a teacher that failed once: its own success, as before
    feed(imperfect, 30, student=every10([0.9, 0.9, 0.8]))
    assert imperfect.handover_at is None              # EMA 0.7 -> 0.8 -> 0.8 < 0.9
    small = make_schedule(Config(teacher_schedule="adaptive", num_eval=4))
    small.update(0, 0, Evidence(student_score=0.0, teacher_score=1.0, teacher_length=30.0))
    assert small.score_target() == pytest.approx(5 / 6)


def test_a_task_scored_by_return_is_caught_up_with_on_the_teachers_return_without_a_rate_cap():
    """A task whose score is its return (configs/tasks.json "score": "return", PickupObjects' objects per episode)
    compares mean returns: the target is teacher_success_ratio x the teacher's return, never Laplace's cap of a
    rate; a teacher whose return is 0 is switched off as one that never succeeds."""
    every10 = lambda values: (lambda i: values[i // 10 - 1] if i % 10 == 0 else None)  # noqa: E731
    config = Config(teacher_schedule="adaptive", teacher_success_ratio=0.8)
    scored = make_schedule(config, "return")
    scored.update(0, 0, Evidence(student_score=1.0, teacher_score=5.0, teacher_length=200.0))
    assert scored.score_target() == pytest.approx(4.0)           # 0.8 x 5 objects: above any rate's cap
    assert scored.rollin_horizon() == 150                          # 200 x (1 - 1.0 / 4.0)
    feed(scored, 20, student=every10([3.0, 3.5]))
    assert scored.handover_at is None and scored.student_ema == pytest.approx(2.75)  # 1 -> 2 -> 2.75
    feed(scored, 20, student=lambda i: 5.0 if i % 10 == 0 else None, start=21)
    assert scored.handover_at == 40                                # 3.875 < 4 at 30, 4.4375 at 40
    metrics = scored.metrics()
    assert metrics["Schedule/Teacher Return"] == 5.0 and "Schedule/Teacher Success" not in metrics
    assert make_schedule(config).metrics()["Schedule/Teacher Success"] is None  # a success-scored task: as before
    nothing = make_schedule(config, "return")
    nothing.update(0, 0, Evidence(student_score=0.0, teacher_score=0.0, teacher_length=400.0))
    nothing.update(1, 500, Evidence(student_score=0.0))
    assert nothing.coef(1, 500) == 0.0                            # a teacher that collects nothing is switched off


def test_a_teacher_that_never_succeeds_hands_over_at_the_first_evaluation():
    config = Config(teacher_schedule="adaptive")
    schedule = make_schedule(config)
    feed(schedule, 10, teacher=lambda i: 0.0 if i == 10 else None, student=lambda i: 0.0 if i == 10 else None)
    assert schedule.handover_at == 10
    assert schedule.coef(11) == 0.0  # nothing to hand over: the term is off at once, floor and all


def weight_after_a_hand_over(config, iteration_steps, env_steps=25_000):
    """The weight of an adaptive schedule whose student caught up at iteration 1, after the iteration that ends at
    env_steps, with iterations of iteration_steps env steps each."""
    schedule = make_schedule(config)
    schedule.update(0, 0, Evidence(teacher_score=0.5, teacher_length=50.0, teacher_episodes=10))
    for i in range(1, env_steps // iteration_steps + 1):
        schedule.update(i, i * iteration_steps, Evidence(student_score=0.9 if i == 1 else None))
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


def test_a_checkpoint_that_names_the_teachers_score_by_its_old_name_resumes_the_same():
    config = Config(teacher_schedule="adaptive")
    first = make_schedule(config)
    feed(first, 40, student=lambda i: 0.5 if i % 10 == 0 else None, teacher=lambda i: 0.8 if i == 10 else None)
    state = first.state_dict()
    old = {("teacher_success" if k == "teacher_score" else k): v for k, v in state.items()}
    again = make_schedule(config)
    again.load_state_dict(old)
    assert again.teacher_score == 0.8 and again.state_dict() == state and again.metrics() == first.metrics()


def test_a_fork_to_another_schedule_starts_it_afresh_and_junk_is_refused():
    handed = make_schedule(Config(teacher_schedule="adaptive"))
    feed(handed, 300, student=lambda i: 0.9, teacher=lambda i: 0.8 if i == 1 else None)
    assert handed.handover_at is not None
    paper = make_schedule(Config(teacher_schedule="paper"))
    paper.load_state_dict(handed.state_dict())
    assert paper.state_dict() == make_schedule(Config(teacher_schedule="paper")).state_dict()
    paper.update(300, 300 * ITERATION_STEPS, Evidence(student_score=0.9))
    other = make_schedule(Config(teacher_schedule="adaptive"))
    other.load_state_dict(paper.state_dict())  # (the paper clock's state: its own evidence is not taken over)
    assert other.state_dict() == make_schedule(Config(teacher_schedule="adaptive")).state_dict()
    with pytest.raises(ValueError):
        other.load_state_dict(["not", "a", "state"])
    with pytest.raises(ValueError):
        other.load_state_dict({"handover_at": 3})  # no name
    for key in ("teacher_episodes", "env_steps"):  # a state without one of today's keys is refused, not guessed
        with pytest.raises((KeyError, ValueError)):
            make_schedule(Config(teacher_schedule="adaptive")).load_state_dict(
                {k: v for k, v in handed.state_dict().items() if k != key})


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
