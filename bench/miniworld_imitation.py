"""Can the student's network imitate a MiniWorld teacher from its images at all? (issue 61) Offline behaviour
cloning, no RL: the soft teacher (every plan weighted by its probability) drives --steps env steps on training
episodes (env seeds 1,000,000+), its action distributions are the targets; the student's pixel network
(algos/learner/model.py, the run's own) learns them by cross-entropy for --epochs passes; reported per epoch: the
KL from the teacher on held-out steps (episodes 2,000,000+; 0 = perfect imitation, whatever the teacher's own
entropy; the feed-forward clone's also apart on the steps holding an object and the others), and at the end the
cloned student alone on --eval held-out episodes (reward per episode, acting by sampling). --frame_stack k gives
the network the last k images as channels (newest last, as training's --frame_stack): how much of the teacher a
short memory explains; --recurrent clones into the LSTM student (training's --recurrent), each episode one
sequence: how much a memory of the whole episode explains (--lstm_residual: its residual core, training's flag);
--pixel_encoder impala clones into IMPALA's residual CNN (training's flag).

    python bench/miniworld_imitation.py --task MiniWorld-PickupObjects-v0 --steps 20000 --epochs 8
"""
import argparse
import time

import numpy as np
import torch

import env as env_pkg
from algos.learner import clone, pixel_encoders
from algos.learner.model import ActorCritic
from algos.vec_env.frame_stack import first_frames, push_frame
from planner.answer_tables import load_answers
from planner.base import RecordedPlanner
from planner.task_spec import task_config
from teacher.config import TeacherConfig
from teacher.policy import TeacherSpec
from utils.bench import run_bench
from utils.errors import UserError
from utils.machine import machine_line


def teacher_steps(task_id, steps, first_seed, rng, k=1):
    """(images uint8 (N, H, W, 3k), teacher distributions (N, A), episode starts bool (N,), whether the agent holds
    an object bool (N,)) of the soft teacher driving."""
    task = task_config(task_id)
    teacher = TeacherSpec(task, TeacherConfig(soft_planner=True)).make_teacher(
        RecordedPlanner(load_answers(task, "default")), 0)
    env = env_pkg.make_env(task_id)
    images, targets, starts, holding, seed = [], [], [], [], first_seed
    try:
        while len(images) < steps:
            obs, _ = env.reset(seed=seed)
            seen = first_frames(obs, k)
            seed += 1
            teacher.begin(env)
            done, first = False, True
            while not done and len(images) < steps:
                p = np.asarray(teacher.teach(env, obs), dtype=np.float32)
                images.append(seen)
                targets.append(p)
                starts.append(first)
                holding.append(env.unwrapped.agent.carrying is not None)
                first = False
                obs, _, terminated, truncated, _ = env.step(int(rng.choice(len(p), p=p / p.sum())))
                seen = push_frame(seen, obs)
                done = terminated or truncated
    finally:
        env.close()
    return np.stack(images), np.stack(targets), np.asarray(starts), np.asarray(holding)


def play(model, task_id, episodes_, rng, k=1):
    env = env_pkg.make_env(task_id)
    reward = 0.0
    try:
        for i in range(episodes_):
            obs, _ = env.reset(seed=2_000_000 + i)
            seen = first_frames(obs, k)
            state = model.initial_state(1)
            done = False
            while not done:
                with torch.no_grad():
                    logits, _, state = model(torch.from_numpy(seen[None]), state)
                p = torch.softmax(logits[0], -1).numpy().astype(np.float64)
                obs, r, terminated, truncated, _ = env.step(int(rng.choice(len(p), p=p / p.sum())))
                seen = push_frame(seen, obs)
                reward += r
                done = terminated or truncated
    finally:
        env.close()
    return reward / episodes_


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="MiniWorld-PickupObjects-v0")
    p.add_argument("--steps", type=int, default=20000, help="training steps of the teacher driving")
    p.add_argument("--heldout", type=int, default=4000, help="held-out steps")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--lr", type=float, default=2.5e-4)
    p.add_argument("--batch_size", type=int, default=128, help="steps per minibatch (--recurrent: episodes)")
    p.add_argument("--eval", type=int, default=10, help="held-out episodes the cloned student plays")
    p.add_argument("--frame_stack", type=int, default=1, help="images stacked as channels (training's flag)")
    p.add_argument("--recurrent", action="store_true", help="the LSTM student (training's flag)")
    p.add_argument("--lstm_residual", action="store_true", help="--recurrent: the residual core (training's flag)")
    p.add_argument("--seq_len", type=int, default=0, help="--recurrent: train on pieces of this many steps (0: episodes)")
    p.add_argument("--pixel_encoder", default="nature", choices=pixel_encoders.NAMES, help="the image encoder "
                   "(training's flag)")
    args = p.parse_args(argv)
    if min(args.steps, args.heldout, args.epochs, args.batch_size, args.frame_stack) < 1 or \
            min(args.eval, args.seq_len) < 0 or not args.lr > 0:
        raise UserError("--steps, --heldout, --epochs, --batch_size, --frame_stack must be >= 1, --eval and "
                        "--seq_len >= 0, --lr > 0")
    if not args.task.startswith("MiniWorld-"):
        raise UserError("--task must be a MiniWorld task")
    if args.lstm_residual and not args.recurrent:
        raise UserError("--lstm_residual is a setting of the LSTM student: give --recurrent too")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    print(machine_line(), flush=True)
    start = time.monotonic()
    x, y, xs, _ = teacher_steps(args.task, args.steps, 1_000_000, rng, args.frame_stack)
    hx, hy, hs, held = teacher_steps(args.task, args.heldout, 2_000_000, rng, args.frame_stack)
    entropy = float(-(hy * np.log(np.clip(hy, 1e-12, 1))).sum(1).mean())
    print(f"{args.task}: {len(x)} training and {len(hx)} held-out teacher steps in {time.monotonic() - start:.0f} s; "
          f"the teacher's entropy on the held-out steps {entropy:.2f} nats", flush=True)
    model = ActorCritic(x.shape[1:], n_actions=y.shape[1], recurrent=args.recurrent, encoder="pixels",
                        lstm_residual=args.lstm_residual, pixel_encoder=args.pixel_encoder)

    def report(epoch, train_kl):
        split = ""  # the feed-forward clone's held-out KL apart on the steps holding an object and the others
        if not args.recurrent and 0 < held.sum() < len(held):
            split = (f" (holding an object, {held.mean():.2f} of the steps: "
                     f"{clone.kl(model, hx[held], hy[held], hs[held]):.3f}; the others "
                     f"{clone.kl(model, hx[~held], hy[~held], hs[~held]):.3f})")
        print(f"epoch {epoch}: KL(teacher || student) train {train_kl:.3f}, held-out {clone.kl(model, hx, hy, hs):.3f}"
              f"{split} nats ({time.monotonic() - start:.0f} s)", flush=True)
    clone.fit(model, x, y, xs, args.epochs, args.lr, rng, args.seq_len, on_epoch=report, size=args.batch_size)
    if args.eval:
        print(f"the cloned student alone: reward per episode {play(model, args.task, args.eval, rng, args.frame_stack):.2f} "
              f"({args.eval} held-out episodes)", flush=True)
    return 0


if __name__ == "__main__":
    run_bench(main)
