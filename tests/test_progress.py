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
