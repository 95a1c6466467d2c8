import io

import pytest

from utils.progress import Progress


def test_plain_mode_one_line_per_update():
    out = io.StringIO()
    p = Progress(2000, mode="plain", stream=out)
    p.update(119, 148_750, 2100.4, 0.75, None, 9.5)
    p.update(120, 150_000, 2150.2, 0.8, 0.9, 9.4)
    p.update(121, 151_250, 2149.0, 0.81, None, 9.39)
    p.message("saved checkpoint")
    p.close()
    lines = out.getvalue().splitlines()
    assert lines == [
        "itr 119/2000 | steps 148,750 | 2,100 sps | train success 0.75 | eval - | coef 9.50",
        "itr 120/2000 | steps 150,000 | 2,150 sps | train success 0.80 | eval 0.90 | coef 9.40",
        "itr 121/2000 | steps 151,250 | 2,149 sps | train success 0.81 | eval 0.90 | coef 9.39",  # latest eval kept
        "saved checkpoint",
    ]


def test_plain_mode_drops_missing_fields_and_every():
    out = io.StringIO()
    p = Progress(5, mode="plain", stream=out, every=2)
    for i in range(1, 6):
        p.update(i, i * 100, None, float("nan"), None, None)
    assert out.getvalue().splitlines() == ["itr 2/5 | steps 200 | eval -", "itr 4/5 | steps 400 | eval -",
                                           "itr 5/5 | steps 500 | eval -"]


def test_auto_mode_picks_plain_when_not_a_tty():
    out = io.StringIO()  # isatty() is False
    assert Progress(10, stream=out).mode == "plain"


def test_bar_mode_uses_tqdm_and_messages_do_not_break_it():
    out = io.StringIO()
    p = Progress(10, mode="bar", stream=out)
    assert p.mode == "bar" and p._bar is not None
    p.update(3, 300, 1000.0, 0.5, 0.25, 1.0)
    p.message("hello there")
    p.update(4, 400, 1000.0, 0.5, None, 1.0)
    assert p._bar.n == 4
    p.close()
    text = out.getvalue()
    assert "hello there" in text
    assert "4/10" in text and "eval 0.25" in text and "train success 0.50" in text


def test_disabled_prints_only_messages():
    out = io.StringIO()
    p = Progress(10, enabled=False, mode="bar", stream=out)
    p.update(1, 100, 1.0, 0.0, 0.0, 0.0)
    p.message("note")
    p.close()
    assert out.getvalue() == "note\n"


def test_bad_mode():
    with pytest.raises(ValueError):
        Progress(10, mode="fancy")


def test_an_estimated_total_is_marked():
    out = io.StringIO()
    p = Progress(20000, mode="plain", stream=out)
    p.update(12, 4_000, total=193, estimated=True)
    p.update(13, 4_300, total=20000)
    assert out.getvalue().splitlines() == ["itr 12/~193 | steps 4,000 | eval -", "itr 13/20000 | steps 4,300 | eval -"]


@pytest.mark.parametrize("n_itr,max_env_steps,iteration,env_steps,size,bound", [
    (20000, 0, 5, 1500, None, (20000, True)),            # no env-step budget: --n_itr
    (20000, 64_000, 0, 0, None, (20000, True)),          # nothing known yet
    (20000, 64_000, 10, 3_200, None, (200, False)),      # episode-based iterations: from the mean so far
    (20000, 64_000, 10, 3_200, 320, (200, True)),        # fixed-size iterations (--rollout_steps): exact
    (150, 64_000, 10, 3_200, None, (150, True)),         # --n_itr comes first
    (20000, 64_000, 201, 64_100, None, (201, True)),     # reached
])
def test_the_bound_that_will_end_a_run(n_itr, max_env_steps, iteration, env_steps, size, bound):
    from algos.config import Config
    from algos.run.run_loop import budget_bound
    config = Config(n_itr=n_itr, max_env_steps=max_env_steps)
    assert budget_bound(config, iteration, env_steps, size) == bound
