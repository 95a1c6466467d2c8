import pytest

from planner.answers import extract_plan, plan_distribution
from planner.base import RecordedPlanner
from teacher.mediator import Mediator, Option, agent_state, parse_plan, restore_colours
from tests.grids import make_obs
from planner.task_spec import load_recorded_answers, task_config


def describe(rows, rule="plain", carrying=None):
    return Mediator(rule).describe(make_obs(rows, carrying))


def test_agent_state():
    assert agent_state(make_obs(["####", "#.v#", "####"])) == (2, 1, 1)


def test_plain_texts():
    assert describe(["#####", "#>..#", "#####"]).text == "Agent sees <nothing>, holds <nothing>."
    d = describe(["#####", "#>.k#", "##D##"])
    assert d.text == "Agent sees <key>, <door>, holds <nothing>."
    assert d.objects == {"key": (3, 1), "door": (2, 2)} and d.carried is None
    d = describe(["#####", "#>..#", "##D##"], carrying="k")
    assert d.text == "Agent sees <door>, holds <key>." and d.carried == "key"
    # unseen cells hide what is behind them
    assert describe(["#####", "#>.?#", "##?##"]).text == "Agent sees <nothing>, holds <nothing>."


def test_coloured_texts_are_anonymised_in_order_of_first_mention_and_restored():
    d = describe(["######", "#>r.b#", "###B##"], rule="anonymised_colours")
    assert d.text == "Agent sees <color1 key>, <color2 key>, <color2 door>, holds <nothing>."
    assert d.colour_map == {"color1": "red", "color2": "blue"}
    assert restore_colours("go to <color2 key>, pick up <color2 key>", d.colour_map) == "go to <blue key>, pick up <blue key>"
    d = describe(["######", "#>..b#", "###B##"], rule="anonymised_colours", carrying="r")
    assert d.text == "Agent sees <color1 key>, <color1 door>, holds <color2 key>."
    assert d.objects == {"blue key": (4, 1), "blue door": (3, 2)} and d.carried == "red key"
    assert restore_colours("go to <color3 key>", d.colour_map) == "go to <color3 key>"


def test_doors_are_numbered_in_scan_order():
    d = describe(["##D##", "D>.k#", "#####"], rule="numbered_doors")
    assert d.text == "Agent sees <key>, <door1>, <door2>, holds <nothing>."
    assert d.objects["door1"] == (0, 1) and d.objects["door2"] == (2, 0)


def test_dropped_key_rejoins_the_list_at_the_end():
    m = Mediator("anonymised_colours")
    first = m.describe(make_obs(["######", "#>r.b#", "######"]))
    assert first.text == "Agent sees <color1 key>, <color2 key>, holds <nothing>."  # red then blue (scan)
    m.describe(make_obs(["######", "#>..b#", "######"], carrying="r"))  # picked up red
    again = m.describe(make_obs(["######", "#>r.b#", "######"]))  # dropped red again
    assert again.text.startswith("Agent sees <color1 key>, <color2 key>")
    assert again.colour_map == {"color1": "blue", "color2": "red"}
    m.reset()
    assert m.describe(make_obs(["######", "#>r.b#", "######"])).colour_map == {"color1": "red", "color2": "blue"}


def test_parse_plan_including_unknown_pieces():
    assert parse_plan("go to <key>, pick up <key>") == (Option("goto", "key"), Option("pickup", "key"))
    assert parse_plan("go to <door>, open <door> with <key>") == (Option("goto", "door"), Option("toggle", "door"))
    assert parse_plan("explore, drop <blue key>") == (Option("explore", None), Option("drop", "blue key"))
    assert parse_plan("go to east") == (Option("wait", None),)
    assert parse_plan("use <key>, jump") == (Option("wait", None), Option("wait", None))
    assert parse_plan(" pick up <Color1  Key>") == (Option("pickup", "color1 key"),)


def test_extract_plan_and_distribution():
    assert extract_plan("1. ... 3. Action: {go to <key>, pick up <key>} \n") == "go to <key>, pick up <key>"
    assert extract_plan("ACTIONS:{ explore }") == "explore"
    assert extract_plan("I would explore.") is None
    assert extract_plan("Action: {__import__('os')}") is None
    assert plan_distribution(["a", "b", "a", "a"]) == [("a", 0.75), ("b", 0.25)]


@pytest.mark.parametrize("task", ["SimpleDoorKey", "LavaDoorKey", "ColoredDoorKey", "TwoDoor"])
def test_recorded_tables_load_and_missing_texts_fall_back_to_explore(task):
    table = load_recorded_answers(task_config(task))
    assert all(abs(sum(p for _, p in plans) - 1) < 1e-9 for plans in table.values())
    planner = RecordedPlanner(table)
    assert planner.plans("Agent sees <nothing>, holds <nothing>.") == [("explore", 1.0)]
    assert planner.stats()["missing_texts"] == 0
    assert planner.plans("Agent sees <dragon>, holds <nothing>.") == [("explore", 1.0)]
    assert planner.stats() == {"missing_texts": 1, "missing_distinct": 1}
