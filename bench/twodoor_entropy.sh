#!/usr/bin/env bash
# TwoDoor: the official schedule (seed 0, --anneal_lr, 10 envs, 4000 iterations; bf16 for speed) and a fork of that
# run at iteration 1850 (teacher coefficient 0.75) that differs in one setting: a 10x entropy bonus (--ent_coef
# 0.01, the official 0.001). Every TwoDoor answer of the recorded table is one plan, so the teacher's target is one
# action per step and the student's policy entropy falls to 0.005-0.06 nats (README "Results").
# About 5 h for the run (one core, AVX-512 BF16) and 1.8 h for the fork (6,600 s here, partly beside another run,
# partly on 2 threads). Run it again to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=${LOGDIR:-log/twodoor}
RUN="$LOG/ppo/TwoDoor/llm4teach-0"
python main.py sweep --tasks TwoDoor --anneal_lr --num_envs 10 --num_eval 20 --n_itr 4000 --precision bf16 \
    --seeds 0 --variants llm4teach --logdir "$LOG" --save_interval 50 --keep_checkpoints
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
# the fork's final student on the sweep's 100 held-out episodes (the sweep evaluated the run and the teacher there)
python main.py eval --task TwoDoor --loaddir "$FORK" --num_eval 100 --env_seed_list 2000000
python main.py plot "$RUN" "$FORK" --out "$LOG/TwoDoor_entropy.png"
