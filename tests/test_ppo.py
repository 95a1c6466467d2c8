import math

import numpy as np
import pytest
import torch

from algos.config import Config
from algos.learner.model import ActorCritic
from algos.learner.ppo import PPO, ppo_losses
from algos.learner.rollout import Rollout, gae
from algos.learner.schedule import paper_coef as teacher_coef
from algos.learner.teacher_term import TeacherTerm
from utils.errors import Diverged

C = Config()


def test_teacher_coefficient_schedule():
    assert teacher_coef(C, 0) == 10.0
    assert teacher_coef(C, 1) == pytest.approx(9.995)
    assert teacher_coef(C, 1000) == pytest.approx(5.0)
    assert teacher_coef(C, 1980) == pytest.approx(0.1)
    assert teacher_coef(C, 2500) == pytest.approx(0.1)  # floor
    assert teacher_coef(C, 2999) == pytest.approx(0.1)
    assert teacher_coef(C, 3000) == 0.0 and teacher_coef(C, 10_000) == 0.0  # off after 3000 iterations
    assert teacher_coef(Config(teacher_coef=0.0), 0) == 0.0  # plain PPO
    other = Config(teacher_coef=2.0, teacher_coef_decay=0.1, teacher_coef_min=0.5, teacher_off_after=20)
    assert teacher_coef(other, 10) == pytest.approx(1.0)


def test_schedule_in_env_steps_does_not_depend_on_the_iteration_count():
    c = Config(teacher_itr_steps=1500)
    assert teacher_coef(c, 5, env_steps=1500 * 1000) == pytest.approx(5.0)
    assert teacher_coef(c, 999, env_steps=1500 * 1000) == teacher_coef(c, 3, env_steps=1500 * 1000)
    assert teacher_coef(c, 0, env_steps=750) == pytest.approx(10.0 - 0.0025)
    assert teacher_coef(c, 10, env_steps=1500 * 3000) == 0.0


def test_ppo_losses_match_a_hand_computation():
    logits = torch.tensor([[0.0, 1.0, 0.0], [2.0, 0.0, -1.0]])
    values = torch.tensor([0.5, -0.2])
    batch = {
        "action": torch.tensor([1, 0]), "logp": torch.tensor([math.log(0.5), math.log(0.9)]),
        "value": torch.tensor([0.1, 0.0]), "advantage": torch.tensor([1.0, -2.0]),
        "return": torch.tensor([1.0, 0.3]), "teacher": torch.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]]),
        "adv_mean": torch.tensor(0.0), "adv_std": torch.tensor(1.0),
    }
    idx = torch.tensor([0, 1])
    out = ppo_losses(logits, values, batch, idx, clip=0.2)
    assert set(out) == {"policy", "value", "entropy", "approx_kl", "clipfrac"}  # PPO's terms alone
    teacher, kl, imitated = TeacherTerm()(torch.log_softmax(logits, -1), TeacherTerm().prepare(batch), idx)

    def softmax(z):
        e = np.exp(z - np.max(z))
        return e / e.sum()
    p0, p1 = softmax(np.array([0.0, 1.0, 0.0])), softmax(np.array([2.0, 0.0, -1.0]))
    r0, r1 = p0[1] / 0.5, p1[0] / 0.9
    # clipped surrogate: -min(r A, clip(r) A)
    pg0 = -min(r0 * 1.0, min(max(r0, 0.8), 1.2) * 1.0)
    pg1 = -min(r1 * -2.0, min(max(r1, 0.8), 1.2) * -2.0)
    # value: max of unclipped and clipped (old value +- 0.2) squared errors
    v0 = max((0.5 - 1.0) ** 2, (0.1 + 0.2 - 1.0) ** 2)
    v1 = max((-0.2 - 0.3) ** 2, (0.0 - 0.2 - 0.3) ** 2)
    ent = -np.mean([np.sum(p * np.log(p)) for p in (p0, p1)])
    ce = np.mean([-np.log(p0[1]), -(0.5 * np.log(p1[0]) + 0.5 * np.log(p1[2]))])
    teacher_entropy = np.mean([0.0, -np.log(0.5)])
    assert out["policy"].item() == pytest.approx((pg0 + pg1) / 2, rel=1e-5)
    assert out["value"].item() == pytest.approx((v0 + v1) / 2, rel=1e-5)
    assert out["entropy"].item() == pytest.approx(ent, rel=1e-5)
    assert out["approx_kl"].item() == pytest.approx(np.mean([r - 1 - np.log(r) for r in (r0, r1)]), rel=1e-5)
    assert out["clipfrac"].item() == pytest.approx(np.mean([abs(r - 1) > 0.2 for r in (r0, r1)]))
    assert teacher.item() == pytest.approx(ce, rel=1e-5)
    assert kl.item() == pytest.approx(ce - teacher_entropy, rel=1e-5) and imitated is None


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_update_moves_the_student_towards_the_teacher(precision):
    torch.manual_seed(0)
    model = ActorCritic((5, 5, 4), precision=precision)
    steps, n = 32, 8
    obs = torch.randint(0, 6, (steps, n, 5, 5, 4), dtype=torch.uint8)
    teacher = torch.zeros(steps, n, 7)
    teacher[..., 2] = 1.0  # the teacher always says "forward"
    with torch.no_grad():
        logits, value, _ = model(obs.view(-1, 5, 5, 4))
        dist = torch.distributions.Categorical(logits=logits)
        action = dist.sample()
    batch = {"obs": obs, "action": action.view(steps, n), "logp": dist.log_prob(action).view(steps, n),
             "value": value.view(steps, n), "advantage": torch.zeros(steps, n), "return": value.view(steps, n),
             "teacher": teacher, "start": torch.zeros(steps, n, dtype=torch.bool), "init_state": None}
    before = torch.softmax(logits, -1)[:, 2].mean().item()
    ppo = PPO(model, Config(batch_size=64))
    params = [p.detach().clone() for p in model.parameters()]
    logs = ppo.update(batch, coef=10.0)
    assert any(not torch.equal(a, b) for a, b in zip(params, model.parameters()))
    with torch.no_grad():
        after = torch.softmax(model(obs.view(-1, 5, 5, 4))[0], -1)[:, 2].mean().item()
    assert after > before + 0.2
    assert logs["approx_kl"] >= 0 and 0 <= logs["clipfrac"] <= 1
    assert logs["teacher"] > logs["teacher_kl"] - 1e-6 > 0 and logs["imitated"] is None  # no --teacher_filter


@pytest.mark.parametrize("residual", [False, True])
def test_recurrent_update_runs_on_sequences(residual):
    torch.manual_seed(0)
    model = ActorCritic((5, 5, 4), recurrent=True, lstm_residual=residual)
    steps, n = 6, 4
    obs = torch.randint(0, 6, (steps, n, 5, 5, 4), dtype=torch.uint8)
    starts = torch.zeros(steps, n, dtype=torch.bool)
    starts[0] = True
    starts[3, 1] = True
    with torch.no_grad():
        logits, value, _ = model(obs, model.initial_state(n), starts)
        dist = torch.distributions.Categorical(logits=logits)
        action = dist.sample()
    # the LSTM runs the sequence in segments cut only where an episode starts, one call each
    assert ActorCritic.segments(starts, steps) == [(0, 3), (3, 6)]
    assert ActorCritic.segments(None, steps) == [(0, 6)] and ActorCritic.segments(starts[:, 2:], steps) == [(0, 6)]
    # one step at a time gives the same outputs as the whole sequence
    state = model.initial_state(n)
    with torch.no_grad():
        for t in range(steps):
            lt, vt, state = model(obs[t], state, starts[t])
            assert torch.allclose(lt, logits[t], atol=1e-5)
    teacher = torch.full((steps, n, 7), 1 / 7)
    batch = {"obs": obs, "action": action, "logp": dist.log_prob(action), "value": value,
             "advantage": torch.randn(steps, n), "return": value, "teacher": teacher, "start": starts,
             "init_state": model.initial_state(n)}
    logs = PPO(model, Config(batch_size=8)).update(batch, coef=1.0)
    assert np.isfinite(logs["loss"])


def test_the_residual_lstm_core_lets_each_observation_reach_the_heads():
    torch.manual_seed(0)
    obs = torch.randint(0, 6, (3, 2, 5, 5, 4), dtype=torch.uint8)
    outputs = {}
    for residual in (False, True):
        model = ActorCritic((5, 5, 4), recurrent=True, lstm_residual=residual)
        with torch.no_grad():
            for p in model.lstm.parameters():  # an LSTM that has learnt nothing: its output is 0
                p.zero_()
            logits, value, _ = model(obs, model.initial_state(2))
            fc = model.fc(model.features(obs.reshape(6, 5, 5, 4)))
            outputs[residual] = logits.reshape(6, -1)
            if residual:  # the heads see this step's FC features: as the feed-forward student would
                assert torch.allclose(outputs[True], model.actor(fc), atol=1e-6)
                assert torch.allclose(value.reshape(6), model.critic(fc).squeeze(-1), atol=1e-6)
            else:  # the official core: the same logits whatever the observation
                assert torch.allclose(outputs[False], model.actor(torch.zeros_like(fc)), atol=1e-6)
    assert not torch.allclose(outputs[True][0], outputs[True][1])
    assert ActorCritic((5, 5, 4), recurrent=False, lstm_residual=True).lstm_residual is False


@pytest.mark.parametrize("recurrent", [False, True])
def test_bf16_student_keeps_fp32_weights_and_outputs_close_to_fp32(recurrent):
    torch.manual_seed(0)
    fp32 = ActorCritic((9, 9, 4), recurrent=recurrent)
    bf16 = ActorCritic((9, 9, 4), recurrent=recurrent, precision="bf16")
    bf16.load_state_dict(fp32.state_dict())
    obs = torch.randint(0, 11, (3, 4, 9, 9, 4) if recurrent else (12, 9, 9, 4), dtype=torch.uint8)
    state = fp32.initial_state(4)
    with torch.no_grad():
        (l32, v32, s32), (l16, v16, s16) = fp32(obs, state), bf16(obs, state)
    assert l16.dtype == v16.dtype == torch.float32 and all(p.dtype == torch.float32 for p in bf16.parameters())
    if recurrent:
        assert all(s.dtype == torch.float32 for s in s16)
    # computed in bfloat16 (8 bits of mantissa), not silently in fp32, and close to the fp32 student
    assert not torch.equal(l16, l32)
    assert torch.allclose(l16, l32, atol=0.03) and torch.allclose(v16, v32, atol=0.03)


def make_storage(rewards, terminated, truncated, values, boot=None):
    steps, n = len(rewards), len(rewards[0])
    s = Rollout(n, (1, 1, 1), capacity=steps)
    s.reward[:steps] = rewards
    s.terminated[:steps] = terminated
    s.truncated[:steps] = truncated
    s.value[:steps] = values
    s.boot_value[:steps] = boot if boot is not None else 0
    return s


def test_lambda_one_gives_monte_carlo_returns_with_bootstrap_only_at_cuts():
    g = 0.9
    # env 0: reward 1 at t=2 then terminates; env 1: runs on and is cut at the end (bootstrap with next value 5)
    rewards = [[0, 0], [0, 1], [1, 0]]
    term = [[0, 0], [0, 0], [1, 0]]
    values = [[0.5, 0.1], [0.2, 0.3], [0.4, 0.6]]
    s = make_storage(rewards, term, [[0, 0]] * 3, values)
    adv, ret = gae(s, 3, next_value=np.array([0.0, 5.0], np.float32), running=np.array([False, True]), gamma=g, lam=1.0)
    assert ret[:, 0] == pytest.approx([g * g, g, 1.0])
    assert ret[:, 1] == pytest.approx([g * 1 + g ** 3 * 5, 1 + g * g * 5, g * 5])
    assert adv == pytest.approx(ret - np.array(values, np.float32))


def test_time_limit_truncation_bootstraps_from_the_final_observation():
    s = make_storage([[0], [0]], [[0], [0]], [[0], [1]], [[0.0], [0.0]], boot=[[0.0], [2.0]])
    _, ret = gae(s, 2, next_value=np.array([7.0], np.float32), running=np.array([False]), gamma=0.5, lam=1.0)
    assert ret[:, 0] == pytest.approx([0.5, 1.0])  # V(final obs) = 2, not the next episode's 7


def test_a_non_finite_update_is_detected():
    torch.manual_seed(0)
    model = ActorCritic((5, 5, 4))
    steps, n = 8, 4
    obs = torch.randint(0, 6, (steps, n, 5, 5, 4), dtype=torch.uint8)
    with torch.no_grad():
        logits, value, _ = model(obs.view(-1, 5, 5, 4))
    batch = {"obs": obs, "action": torch.zeros(steps, n, dtype=torch.long), "logp": torch.zeros(steps, n),
             "value": value.view(steps, n), "advantage": torch.randn(steps, n),
             "return": torch.full((steps, n), float("nan")), "teacher": torch.full((steps, n, 7), 1 / 7),
             "start": torch.zeros(steps, n, dtype=torch.bool), "init_state": None}
    with pytest.raises(Diverged, match="non-finite"):
        PPO(model, Config(batch_size=16)).update(batch, coef=1.0)


def test_learning_rate_annealing_follows_the_budget():
    from algos.learner.ppo import learning_rate
    assert learning_rate(Config(), 500) == 1e-3  # the official constant rate
    c = Config(anneal_lr=True, n_itr=1000)
    assert learning_rate(c, 0) == 1e-3 and learning_rate(c, 250) == pytest.approx(7.5e-4)
    assert learning_rate(c, 1000) == 0.0
    c = Config(anneal_lr=True, n_itr=20000, max_env_steps=100_000)  # whichever budget runs out first
    assert learning_rate(c, 10, env_steps=50_000) == pytest.approx(5e-4)
