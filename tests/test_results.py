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


def test_a_report_shows_the_teacher_of_its_own_runs_on_its_own_episodes_only(tmp_path, capsys):
    """Issue 62: `eval --eval_teacher` keeps one measurement per teacher and episodes in teacher_eval.json (a quick
    look at another teacher never replaces the sweep's), and `sweep --report` shows a teacher row only from a
    measurement of its runs' teacher on its held-out episodes, else says it is missing."""
    import json
    import os
    import main
    from algos.config import Config
    from algos.experiments.sweep import SweepOptions, sweep
    from utils.run_dir import run_dir_path
    for variant, soft in (("llm4teach", False), ("llm4teach_soft", True), ("ppo", False)):
        path = run_dir_path(str(tmp_path), "SimpleDoorKey", variant, 0)
        os.makedirs(path)
        with open(os.path.join(path, "metrics.csv"), "w") as f:
            f.write("iteration,env_steps,wall_time,Train/Success Rate,Test/Success Rate\n1,4096,9.5,0.25,0.5\n")
        with open(os.path.join(path, "config.json"), "w") as f:
            json.dump({"task": "SimpleDoorKey", "seed": 0, "savedir": variant, "soft_planner": soft,
                       "teacher_coef": 0.0 if variant == "ppo" else 10.0}, f)
    options = SweepOptions(tasks=["SimpleDoorKey"], seeds=[0], variants=["llm4teach", "llm4teach_soft", "ppo"],
                           final_eval=3, report=True)

    def teacher_rows():
        sweep(Config(logdir=str(tmp_path)), options)
        return [line for line in (tmp_path / "results.md").read_text().splitlines() if "| teacher alone" in line]

    def eval_teacher(*extra):
        assert main.main(["eval", "--task", "SimpleDoorKey", "--eval_teacher", "--logdir", str(tmp_path), *extra]) == 0
        return capsys.readouterr().out
    assert teacher_rows() == [
        "| SimpleDoorKey | teacher alone (llm4teach) | - | - | not measured (answers official on these 3 held-out "
        "episodes; a sweep without --report measures it) | - |",
        "| SimpleDoorKey | teacher alone (llm4teach_soft) | - | - | not measured (answers official, soft planner on "
        "these 3 held-out episodes; a sweep without --report measures it) | - |"]
    eval_teacher("--num_eval", "1", "--answers", "official", "--soft_planner")  # a quick look: 1 episode
    eval_teacher("--num_eval", "3", "--env_seed_list", "2000000")                # the sweep's episodes
    out = eval_teacher("--num_eval", "3", "--env_seed_list", "5")                # the same teacher, other episodes
    assert "(kept beside 2 measurements of other teachers or episodes)" in out
    rows = teacher_rows()
    assert rows[0] == "| SimpleDoorKey | teacher alone (llm4teach) | - | - | 1.00 (3 ep) | - |"
    assert "not measured" in rows[1] and "(1 ep)" not in rows[1]
    eval_teacher("--num_eval", "3", "--env_seed_list", "2000000", "--soft_planner")
    assert "not measured" not in "".join(teacher_rows())
    measurements = json.loads((tmp_path / "ppo" / "SimpleDoorKey" / "teacher_eval.json").read_text())["measurements"]
    assert len(measurements) == 4
