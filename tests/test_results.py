"""The results table says which seeds a figure covers: a run without a held-out final evaluation is marked."""
from algos.experiments.results import RunRow, markdown


def row(seed, env_steps, success):
    return RunRow(task="ColoredDoorKey", variant="ppo", seed=seed, iterations=10, env_steps=env_steps,
                  wall_seconds=1.0, final_success=success, final_return=None,
                  final_episodes=100 if success is not None else None, steps_to_threshold=None)


def test_an_unfinished_seed_is_marked_and_not_counted_as_evaluated():
    table = markdown([row(0, 4_900_000, 0.02), row(1, 825_000, None)], {})
    line = next(l for l in table.splitlines() if l.startswith("| ColoredDoorKey | ppo |"))
    assert line.split(" | ")[2] == "0, 1*"
    assert "0.02 (100 ep; 1 of 2 seeds)" in line
    assert "unfinished run" in table


def test_finished_seeds_carry_no_mark():
    table = markdown([row(0, 4_900_000, 0.02), row(1, 4_900_000, 0.04)], {})
    line = next(l for l in table.splitlines() if l.startswith("| ColoredDoorKey | ppo |"))
    assert line.split(" | ")[2] == "0, 1" and "0.03 ± 0.01 (100 ep) |" in line
    assert "*" not in table
