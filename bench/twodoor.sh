#!/usr/bin/env bash
# TwoDoor with the official schedule (seed 0, --anneal_lr, 10 envs, 4000 iterations; bf16 for speed), plain PPO at the
# same 4000 iterations, and a fork of the LLM4Teach run at iteration 1850 (teacher coefficient 0.75) that differs in
# one setting: a 10x entropy bonus (--ent_coef 0.01, the official 0.001). Every TwoDoor answer of the recorded table
# is one plan, so the teacher's target is one action per step and the student's policy entropy falls to
# 0.005-0.06 nats up to iteration 1850 (README "Results").
# Measured on a 2-core CPU with AVX-512 BF16, stopped and resumed across working stretches: the LLM4Teach run 16,875 s
# of training, plain PPO 9,257 s for its first 2,903 iterations (4.35M env steps; one thread beside the run, then two
# threads alone), the fork 6,600 s. Run it again to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=${LOGDIR:-log/twodoor}
PROTOCOL=(--tasks TwoDoor --anneal_lr --num_envs 10 --num_eval 20 --n_itr 4000 --precision bf16 --seeds 0
          --logdir "$LOG" --save_interval 50)
RUN="$LOG/ppo/TwoDoor/llm4teach-0"
python main.py sweep "${PROTOCOL[@]}" --variants llm4teach --keep_checkpoints
python main.py sweep "${PROTOCOL[@]}" --variants ppo
FORK="$LOG/ppo/TwoDoor/ent0.01-0"
if [ -d "$FORK" ]; then
    python main.py train --resume "$FORK" --no_progress
else
    python main.py train --fork "$RUN/checkpoints/itr001850.pt" --logdir "$LOG" --savedir ent0.01 --ent_coef 0.01 \
        --no_progress
fi
# The README's second fork started where the official run had been stopped for a while, at iteration 2458 (a stopped
# run keeps that checkpoint too with --keep_checkpoints); to repeat it, stop the run there and fork:
#   python main.py train --fork "$RUN/checkpoints/itr002458.pt" --logdir "$LOG" --savedir ent0.01_at2458 --ent_coef 0.01
# the fork's final student on the sweep's 100 held-out episodes (the sweep evaluated the runs and the teacher there)
python main.py eval --task TwoDoor --loaddir "$FORK" --num_eval 100 --env_seed_list 2000000
python main.py sweep "${PROTOCOL[@]}" --variants llm4teach ppo --report
python main.py plot "$RUN" "$LOG/ppo/TwoDoor/ppo-0" "$FORK" --out "$LOG/TwoDoor_fork.png"
