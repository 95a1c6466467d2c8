#!/usr/bin/env bash
# The tasks added since the paper (docs/tasks.md), taught by Gemma 3 270M's recorded answers (each task's default
# table, configs/answers/gemma3-270m.json): the teacher alone, the LLM4Teach student and plain PPO with the same
# env-step budget, 2 seeds, every student and the teacher on the same 100 held-out episodes (env seeds 2,000,000+),
# and the env steps to 0.9 success. Each task is one sweep with its own budget (STEPS_<task> overrides it); the last
# command prints the one table of all five (results.md and results.csv in $LOGDIR, a figure per task).
# Runs that finished are not trained again and interrupted ones resume, so run it again to go on. Two runs at a time
# on a 2-core machine (NUM_CPUS); each run's time: docs/results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=${LOGDIR:-log/more_tasks}
SEEDS=${SEEDS:-0 1}
COMMON=(--seeds $SEEDS --variants llm4teach ppo --logdir "$LOG" --num_cpus "${NUM_CPUS:-0}")
declare -A STEPS=(
    [KeyInBox]=${STEPS_KeyInBox:-1000000}
    [RandomBoxKey]=${STEPS_RandomBoxKey:-1000000}
    [MiniGrid-UnlockPickup-v0]=${STEPS_UnlockPickup:-1000000}
    [MiniGrid-BlockedUnlockPickup-v0]=${STEPS_BlockedUnlockPickup:-1000000}
    [MiniGrid-DoorKey-16x16-v0]=${STEPS_DoorKey16:-1000000}
)
# The box tasks: a learning rate annealed to 0 over the budget (CleanRL's anneal_lr); KeyInBox's near-perfect
# teacher term decays to a floor of 1.0 (from iteration 1,800) rather than 0.1. DoorKey-16x16's episodes are
# up to 2,560 steps: iterations of 128 steps per env whose episodes go on (CleanRL's way) rather than of whole
# episodes, and an evaluation every 50 of them (~100k env steps). The two pickup tasks (288 and 576 steps per
# episode; teachers that score 0.18 and 0.14): the same iterations, and a teacher term that decays 10x faster (to its floor
# of 0.1 in 198 iterations, ~405k env steps), so the RL term gets its turn within the budget, and stays at that floor
# to the end (off after 100,000 iterations: never), since a student left without it can lose what it learnt
# (docs/results.md). Plain PPO runs with the same flags (the teacher term is 0 there).
PICKUP="--rollout_steps 128 --teacher_coef_decay 0.05 --teacher_off_after 100000 --anneal_lr --eval_interval 25"
declare -A EXTRA=(
    [KeyInBox]="--anneal_lr --teacher_coef_min 1.0"
    [RandomBoxKey]="--anneal_lr"
    [MiniGrid-UnlockPickup-v0]="$PICKUP"
    [MiniGrid-BlockedUnlockPickup-v0]="$PICKUP"
    [MiniGrid-DoorKey-16x16-v0]="--rollout_steps 128 --eval_interval 50"
)
# The evidence-driven teacher weight (--teacher_schedule adaptive, docs/teacher_schedule.md) on the same tasks with
# the settings of bench/paper.sh's adaptive rows and none of the per-task flags above: 1M env steps, --anneal_lr,
# 16 envs; only with ADAPTIVE=1, which runs these alone (seeds: ADAPTIVE_SEEDS, default 0 1 2), in its own log
# folder; the longest runs first.
if [ "${ADAPTIVE:-0}" = 1 ]; then
    TASKS=(MiniGrid-DoorKey-16x16-v0 MiniGrid-BlockedUnlockPickup-v0 MiniGrid-UnlockPickup-v0 RandomBoxKey KeyInBox)
    ADAPTIVE_RUNS=(--seeds ${ADAPTIVE_SEEDS:-0 1 2} --variants adaptive --variants_file bench/teacher_schedules.json
                   --logdir "${LOG}_adaptive" --num_cpus "${NUM_CPUS:-0}")
    if [ "${1:-}" != "--report" ]; then
        python main.py sweep --tasks "${TASKS[@]}" --max_env_steps 1000000 --anneal_lr "${ADAPTIVE_RUNS[@]}"
    fi
    python main.py sweep --tasks "${TASKS[@]}" --report "${ADAPTIVE_RUNS[@]}"
    exit 0
fi
TASKS=(KeyInBox RandomBoxKey MiniGrid-UnlockPickup-v0 MiniGrid-BlockedUnlockPickup-v0 MiniGrid-DoorKey-16x16-v0)
if [ "${1:-}" != "--report" ]; then
    for task in "${TASKS[@]}"; do
        # shellcheck disable=SC2086  # EXTRA's flags are words
        python main.py sweep --tasks "$task" --max_env_steps "${STEPS[$task]}" "${COMMON[@]}" ${EXTRA[$task]:-}
    done
fi
python main.py sweep --tasks "${TASKS[@]}" "${COMMON[@]}" --report
