"""algos.experiments.stuck: where the teacher alone ends its failed episodes, read from real teacher episodes."""
import pytest

from algos.experiments.stuck import markdown, teacher_stuck
from utils.errors import UserError


def test_a_teacher_that_never_fails_reports_nothing():
    report = teacher_stuck("SimpleDoorKey", episodes=3)  # the official answers: 1.00 on these seeds (results.md)
    assert (report.episodes, report.failed, report.stuck) == (3, 0, [])
    assert markdown(report).splitlines()[0] == "SimpleDoorKey: the teacher alone failed 0 of 3 episodes"


def test_failed_episodes_are_grouped_by_the_text_they_end_on():
    report = teacher_stuck("MiniGrid-UnlockPickup-v0", episodes=4, window=10)  # Gemma's answers: 0.18 (results.md)
    assert report.failed >= 1 and sum(s.episodes for s in report.stuck) == report.failed
    counts = [s.episodes for s in report.stuck]
    assert counts == sorted(counts, reverse=True)
    for s in report.stuck:
        assert s.text.startswith("Mission: pick up the color1 box. Agent sees ")  # a real observation text
        assert s.plans and abs(sum(p for _, p in s.plans) - 1) < 1e-6
        # at most `window` steps of each of its episodes were on its text
        assert sum(n for _, n in s.actions) <= 10 * s.episodes
        assert all(name in {"left", "right", "forward", "pickup", "drop", "toggle", "done"} for name, _ in s.actions)
    table = markdown(report).splitlines()
    assert table[0] == f"MiniGrid-UnlockPickup-v0: the teacher alone failed {report.failed} of 4 episodes"
    assert len(table) == 4 + len(report.stuck) and table[4].startswith(f"| {counts[0]} | Mission: ")


def test_bad_arguments_are_one_line():
    with pytest.raises(ValueError, match="must be >= 1"):
        teacher_stuck("SimpleDoorKey", episodes=0)
    with pytest.raises(UserError, match="unknown task"):
        teacher_stuck("NoSuchTask")


def _bench():
    import importlib.util
    from tests.helpers import ROOT
    spec = importlib.util.spec_from_file_location("bench_stuck", f"{ROOT}/bench/teacher_stuck.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_bench_script_asks_a_live_llm(capsys):
    from tests.llm_fakes import FakeChatServer, Reply, completion

    def explore_only(i, body):  # a teacher that only explores never opens the door
        return Reply(payload=completion(["Action: {explore}"] * body.get("n", 1)))

    with FakeChatServer(explore_only) as fake:
        assert _bench().main(["--tasks", "SimpleDoorKey", "--episodes", "2", "--llm_url", fake.url]) == 0
        assert len(fake.requests) > 1  # the preflight and the texts' questions
    out = capsys.readouterr().out
    assert out.startswith("SimpleDoorKey: the teacher alone failed 2 of 2 episodes")
    assert "| 2 | Agent sees " in out and "| explore (1.00) |" in out


def test_the_bench_script_refuses_a_dead_server_in_one_line():
    with pytest.raises(UserError, match="LLM teacher not usable"):
        _bench().main(["--tasks", "SimpleDoorKey", "--episodes", "1", "--llm_url", "http://127.0.0.1:9/v1"])
