"""What the student imitates and what it is measured against: --teacher_smoothing mixes the teacher's distribution
with the uniform one (a deterministic teacher no longer drives the student's entropy to zero), and
--teacher_eval_min measures the teacher on more episodes than one evaluation batch."""
import dataclasses
import math
import os

import pytest
import torch

import main
from algos.config import Config
from algos.run.episodes import until_settled
from algos.learner.ppo import PPO
from algos.learner.teacher_term import TeacherTerm, smoothed
from tests.bandit import N_ACTIONS, Bandit, one_step_batch, sample
from tests.helpers import read_metrics, tiny_train_args


def test_smoothing_mixes_taught_rows_with_the_uniform_distribution_and_leaves_untaught_rows_empty():
    teacher = torch.zeros(3, N_ACTIONS)
    teacher[0, 2] = 1.0
    teacher[1, :2] = 0.5                     # row 2: not taught (a live LLM had not answered)
    out = smoothed(teacher, 0.07)
    assert torch.allclose(out.sum(-1), torch.tensor([1.0, 1.0, 0.0]))
    assert float(out[0, 2]) == pytest.approx(0.93 + 0.01) and float(out[0, 0]) == pytest.approx(0.01)
    assert float(out[1, 0]) == pytest.approx(0.465 + 0.01) and float(out[1, 6]) == pytest.approx(0.01)
    assert torch.equal(out[2], torch.zeros(N_ACTIONS))


def test_the_smoothed_cross_entropy_is_smallest_at_the_smoothed_target_not_at_the_teachers_action():
    teacher = torch.zeros(1, N_ACTIONS)
    teacher[0, 0] = 1.0
    term = TeacherTerm(smoothing=0.05)               # --teacher_smoothing 0.05: prepare() smooths the target
    batch = term.prepare(dict(teacher=teacher))
    assert torch.allclose(batch["teacher"], smoothed(teacher, 0.05))

    def teacher_term(logits):
        return float(term(torch.log_softmax(logits, -1), batch, torch.arange(1))[0])
    at_target = torch.log(batch["teacher"])
    sharper = torch.tensor([[8.0] + [0.0] * (N_ACTIONS - 1)])
    assert teacher_term(at_target) < teacher_term(sharper)


def imitate_then_hand_over(smoothing, imitate=150, after=150, n=32):
    """A teacher that always says action 0: `imitate` iterations at weight 10 without any reward (the student
    copies it), then `after` at the hand-over's floor of 0.1 with a reward for action 1 only. Returns (the
    student's entropy at the hand-over, its final policy)."""
    torch.manual_seed(0)
    config = dataclasses.replace(Config(), teacher_smoothing=smoothing, lr=0.01, epochs=4, batch_size=16)
    model = Bandit()
    ppo = PPO(model, config)
    teacher = torch.zeros(n, 1, N_ACTIONS)
    teacher[..., 0] = 1.0
    gen = torch.Generator().manual_seed(1)
    entropy = None
    for i in range(imitate + after):
        dist, action, logp, value = sample(model, n, gen)
        if i == imitate:
            entropy = float(dist.entropy()[0])
        reward = (action == 1).float() * (i >= imitate)
        ppo.update(one_step_batch(action, logp, value, reward, teacher), coef=10.0 if i < imitate else 0.1,
                   generator=torch.Generator().manual_seed(2))
    return entropy, torch.softmax(model.logits.detach(), -1)


def test_a_smoothed_student_keeps_its_entropy_under_a_deterministic_teacher_and_still_learns_after_the_hand_over():
    plain_entropy, plain = imitate_then_hand_over(0.0)
    smooth_entropy, smooth = imitate_then_hand_over(0.05)
    # the minimum of the smoothed cross-entropy: 0.957 on the teacher's action, 0.05 / 7 on each other
    top, rest = 0.95 + 0.05 / N_ACTIONS, 0.05 / N_ACTIONS
    floor = -top * math.log(top) - (N_ACTIONS - 1) * rest * math.log(rest)
    assert plain_entropy < 0.2 * floor                  # copies its teacher ever more sharply
    assert 0.8 * floor < smooth_entropy < 1.2 * floor    # held at the smoothed target's entropy
    assert plain[1] < 0.1                    # rarely if ever samples the rewarded action again
    assert smooth[1] > 0.9                   # finds it once the weight is down


def test_until_settled_runs_at_least_min_episodes_in_whole_batches():
    calls = []

    def run(seeds):
        calls.append(seeds)
        return [(0.0, 10, True) for _ in seeds]

    assert len(until_settled(run, 100, 4, 50)) == 4
    calls.clear()
    assert len(until_settled(run, 100, 4, 50, min_episodes=10)) == 12
    assert calls == [[100, 101, 102, 103], [104, 105, 106, 107], [108, 109, 110, 111]]


def test_until_settled_measures_a_teacher_that_fails_sometimes_on_up_to_max_episodes():
    """A perfect first batch settles it; a record with one failure, or with none of its episodes won, runs whole
    batches up to max_episodes, whatever the later batches do."""
    def runner(fails):
        def run(seeds):
            return [(0.0, 10, seed not in fails) for seed in seeds]
        return run

    assert len(until_settled(runner(set()), 100, 4, 50)) == 4
    assert len(until_settled(runner({102}), 100, 4, 50)) == 48       # one failure in the first batch
    assert len(until_settled(runner({105}), 100, 4, 50)) == 4        # the failure would have come after
    assert len(until_settled(runner(set(range(100, 200))), 100, 4, 10)) == 8
    assert len(until_settled(runner({100}), 100, 4, 3)) == 4         # the first batch always runs


def test_a_run_measures_its_teacher_on_teacher_eval_min_episodes(tmp_path):
    for name, extra in (("default", []), ("six", ["--teacher_eval_min", "6"])):
        args = tiny_train_args(tmp_path, name, n_itr=1, extra=["--teacher_schedule", "adaptive", *extra])
        assert main.main(args) == 0
    rows = {name: read_metrics(os.path.join(tmp_path, "ppo", "SimpleDoorKey", f"{name}-0"))[0]
            for name in ("default", "six")}
    assert int(rows["default"]["Schedule/Teacher Episodes"]) == 2       # --num_eval 2
    assert int(rows["six"]["Schedule/Teacher Episodes"]) == 6
    assert float(rows["six"]["Schedule/Teacher Success"]) == 1.0        # SimpleDoorKey's teacher: every episode
