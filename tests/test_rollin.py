"""Teacher roll-ins (--teacher_schedule adaptive): the teacher acts for the first steps of episodes, the RL terms
leave those steps out, and the horizon shrinks as the student catches up (algos/learner/rollin.py, algos/learner/schedule.py)."""
import os

import numpy as np
import pytest
import torch

import main
from algos.config import Config
from algos.vec_env.env_pool import EnvPool
from algos.learner.model import ActorCritic
from algos.learner.ppo import ppo_losses
from algos.learner.rollin import RollIn, rl_samples, rollin_metrics, split_episodes
from algos.learner.rollout import Rollout, collect
from algos.learner.schedule import Evidence, make_schedule
from algos.learner.teacher_term import TeacherTerm
from planner.task_spec import task_config
from teacher.policy import TeacherSpec
from tests.helpers import read_metrics, tiny_train_args


def one_hot(rows, n=7):
    out = np.zeros((len(rows), n), np.float32)
    for i, a in enumerate(rows):
        if a is not None:
            out[i, a] = 1.0
    return out


def test_the_teacher_acts_while_a_roll_in_lasts_and_not_where_it_has_no_answer():
    rollin = RollIn(3)
    rollin.left[:] = [2, 0, 1]
    action = np.array([6, 6, 6])
    acting = rollin.act(action, one_hot([2, 3, None]))  # env 2: no teacher answer yet
    assert acting.tolist() == [True, False, False]
    assert action.tolist() == [2, 6, 6]                 # the student's own action where the teacher does not act
    assert rollin.left.tolist() == [1, 0, 0]            # env 2's roll-in ends: the student goes on
    action = np.array([6, 6, 6])
    assert rollin.act(action, one_hot([4, 4, 4])).tolist() == [True, False, False] and action.tolist() == [4, 6, 6]
    assert not rollin.act(action, one_hot([1, 1, 1])).any()  # all roll-ins over


def test_a_mixed_teacher_is_sampled_by_its_probabilities():
    np.random.seed(0)
    rollin = RollIn(4000)
    rollin.left[:] = 1
    action = np.zeros(4000, np.int64)
    probs = np.tile(np.array([0, 0.25, 0, 0.75, 0, 0, 0], np.float32), (4000, 1))
    rollin.act(action, probs)
    assert set(action.tolist()) == {1, 3}
    assert abs((action == 3).mean() - 0.75) < 0.03


@pytest.fixture
def pool():
    cfg = task_config("SimpleDoorKey")
    pool = EnvPool(cfg["env_id"], [100 + i for i in range(4)], [[0, i] for i in range(4)], TeacherSpec(cfg), workers=0)
    pool.set_teacher(True)
    yield pool
    pool.close()


def test_collected_roll_ins_are_a_prefix_of_each_episode_and_follow_the_teacher(pool):
    np.random.seed(1)
    torch.manual_seed(0)
    model = ActorCritic(pool.obs_shape)
    storage = Rollout(4, pool.obs_shape)
    batch, episodes = collect(model, pool, storage, "cpu", Config(traj_per_itr=12, batch_size=64), rollin_horizon=15)
    guided, start = batch["guided"].numpy(), batch["start"].numpy()
    action, teacher = batch["action"].numpy(), batch["teacher"].numpy()
    assert guided.any() and not guided.all()
    assert (action[guided] == teacher[guided].argmax(-1)).all()   # the hard teacher's one action, taken
    lengths = []
    for i in range(4):
        t = 0
        while t < len(guided):
            end = t + 1
            while end < len(guided) and not start[end, i]:
                end += 1
            run = guided[t:end, i]
            k = int(run.sum())
            assert run[:k].all() and not run[k:].any()               # a prefix of the episode, then the student
            assert k <= 15
            lengths.append(k)
            t = end
    assert len(set(lengths)) > 3                                      # lengths drawn afresh for every episode
    assert any(e[3] for e in episodes) and all(len(e) == 4 for e in episodes)
    # no horizon: nothing guided, and the episodes flagged as the student's own
    batch, episodes = collect(model, pool, storage, "cpu", Config(traj_per_itr=4, batch_size=64))
    assert not batch["guided"].any() and not any(e[3] for e in episodes)


def test_the_rl_terms_leave_the_teachers_steps_out_and_the_teacher_term_keeps_them():
    torch.manual_seed(0)
    n = 32
    logits, values = torch.randn(n, 7), torch.randn(n)
    base = {"action": torch.randint(0, 7, (n,)), "logp": torch.randn(n) - 2, "value": torch.randn(n),
            "advantage": torch.randn(n), "return": torch.randn(n), "teacher": torch.eye(7)[torch.randint(0, 7, (n,))],
            "adv_mean": torch.zeros(()), "adv_std": torch.ones(())}
    own = torch.ones(n)
    own[:10] = 0
    changed = dict(base, advantage=base["advantage"].clone(), **{"return": base["return"].clone()})
    changed["advantage"][:10] += 5.0
    changed["return"][:10] -= 3.0
    idx = torch.arange(n)
    a = ppo_losses(logits, values, dict(base, own=own), idx, 0.2)
    b = ppo_losses(logits, values, dict(changed, own=own), idx, 0.2)
    for k in ("policy", "value", "entropy"):
        assert float(a[k]) == float(b[k])
    plain = ppo_losses(logits, values, base, idx, 0.2)
    assert float(plain["policy"]) != float(a["policy"])
    term = TeacherTerm()
    ce = -(base["teacher"] * torch.log_softmax(logits, -1)).sum(-1)
    imitated = float(term(torch.log_softmax(logits, -1), term.prepare(dict(base, own=own)), idx)[0])
    assert imitated == pytest.approx(float(ce.mean()), rel=1e-6)  # every sample imitated, the teacher's steps too
    assert imitated != pytest.approx(float(ce[10:].mean()), rel=1e-3)
    own_only = ppo_losses(logits[10:], values[10:], {k: (v[10:] if v.dim() else v) for k, v in base.items()},
                          torch.arange(n - 10), 0.2)
    assert float(own_only["policy"]) == pytest.approx(float(a["policy"]), rel=1e-5)
    assert float(own_only["value"]) == pytest.approx(float(a["value"]), rel=1e-5)


def test_the_horizon_shrinks_as_the_student_catches_up():
    schedule = make_schedule(Config(teacher_schedule="adaptive"))
    assert schedule.rollin_horizon() == 0  # the teacher not measured yet
    schedule.update(0, 0, Evidence(student_score=0.0, teacher_score=0.8, teacher_length=40.0))
    assert schedule.rollin_horizon() == 40
    schedule.update(10, 10_000, Evidence(student_score=0.8))     # EMA 0.4: half-way to the teacher
    assert schedule.rollin_horizon() == 20
    schedule.update(20, 20_000, Evidence(student_score=1.0))     # EMA 0.7
    assert schedule.rollin_horizon() == 5
    schedule.update(30, 30_000, Evidence(student_score=1.0))     # past the teacher: the student acts alone
    assert schedule.rollin_horizon() == 0
    assert schedule.metrics()["Schedule/Roll-in Horizon"] == 0
    wrong = make_schedule(Config(teacher_schedule="adaptive"))
    wrong.update(0, 0, Evidence(student_score=0.0, teacher_score=0.0, teacher_length=150.0))
    assert wrong.rollin_horizon() == 0 and wrong.coef(1) == 0.0      # a teacher that never succeeds never acts
    paper = make_schedule(Config(teacher_schedule="paper"))
    paper.update(0, 0, Evidence(student_score=0.0, teacher_score=0.8, teacher_length=40.0))
    assert paper.rollin_horizon() == 0 and not paper.rolls_in        # the paper's teacher never acts


def test_the_rl_samples_are_the_students_steps_and_the_metrics_count_the_teachers():
    guided = torch.tensor([[True, False], [False, False]])
    assert rl_samples(None) is None and rl_samples(torch.zeros(2, 2, dtype=torch.bool)) is None  # no roll-in: all
    assert torch.equal(rl_samples(guided), ~guided)
    episodes = [(1.0, 5, True, False), (0.0, 9, False, True), (1.0, 4, True, True)]
    own, guided_episodes = split_episodes(episodes)
    assert own == episodes[:1] and guided_episodes == episodes[1:]
    assert rollin_metrics({"guided": guided}, guided_episodes) == {
        "Train/Guided Share": 0.25, "Train/Guided Episodes": 2, "Train/Guided Success Rate": 0.5}
    assert rollin_metrics({"guided": guided}, []) == {"Train/Guided Share": 0.25}


def test_an_adaptive_run_logs_its_roll_ins_and_resumes_exactly(tmp_path):
    """SimpleDoorKey's teacher always succeeds and the tiny student never does: every iteration has roll-ins.
    Stopped after 2 iterations and resumed to 4, the run logs exactly the straight run's rows (the roll-in lengths
    are drawn from the checkpointed random state)."""
    extra = ["--teacher_schedule", "adaptive", "--num_eval", "3"]
    assert main.main(tiny_train_args(tmp_path, "straight", n_itr=4, extra=extra)) == 0
    assert main.main(tiny_train_args(tmp_path, "part", n_itr=2, extra=extra)) == 0
    task_dir = os.path.join(tmp_path, "ppo", "SimpleDoorKey")
    assert main.main(["train", "--resume", os.path.join(task_dir, "part-0"), "--n_itr", "4"]) == 0
    want = read_metrics(os.path.join(task_dir, "straight-0"))
    assert read_metrics(os.path.join(task_dir, "part-0")) == want
    assert all(float(r["Train/Guided Share"]) > 0 for r in want)
    assert all(float(r["Schedule/Roll-in Horizon"]) > 0 for r in want)
    assert {float(r["Schedule/Teacher Success"]) for r in want} == {1.0}
