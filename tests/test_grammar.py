"""planner.live.grammar over the whole vocabulary: the afforded candidate plans and steps of the new object kinds
and door states, the "all" set beside them, and the --llm_candidates setting reaching the live planners."""
import itertools
import json
import math
import re

import pytest

from planner.answers import extract_plan
from planner.factory import build_planner
from planner.live.grammar import (candidate_plans, grammar_for, observation_grammar, observation_grammar_all, parse_text,
                             steps)
from planner.live.logprob_planner import LogprobPlanner
from teacher.mediator import parse_plan
from tests.helpers import planner_config
from tests.llm_fakes import FakeChatServer, Reply, completion, honour_n
from utils.errors import UserError
from planner.task_spec import CONFIG_DIR, GENERIC, GENERIC_3D, all_tasks, task_config

ROOM = ("Mission: pick up the purple box. Agent sees <yellow key>, <grey ball> (blocks a door), <purple box>, "
        "<locked yellow door>, <closed red door>, <open blue door>, <green goal>, holds <blue key>.")


def test_afforded_plans_follow_the_vocabulary_and_the_door_rules():
    assert candidate_plans(ROOM) == [
        "explore",
        "drop <blue key>, go to <yellow key>, pick up <yellow key>",   # one thing at a time: the held key first
        "drop <blue key>, go to <grey ball>, pick up <grey ball>",
        "drop <blue key>, go to <purple box>, pick up <purple box>",  # the mission's box: never opened (destroyed)
        "go to <closed red door>, open <closed red door>",   # closed: opens without a key; locked yellow: not
        "go to <green goal>",                                # with the blue key; open blue: nothing to open
        "drop <blue key>"]
    empty = ROOM.replace("holds <blue key>", "holds <nothing>")
    assert "go to <yellow key>, pick up <yellow key>" in candidate_plans(empty) and "drop" not in str(candidate_plans(empty))
    held_yellow = ROOM.replace("holds <blue key>", "holds <yellow key>")
    assert "go to <locked yellow door>, open <locked yellow door>" in candidate_plans(held_yellow)
    assert steps(ROOM) == [
        "explore", "go to <yellow key>", "pick up <yellow key>", "go to <grey ball>", "pick up <grey ball>",
        "go to <purple box>", "pick up <purple box>", "go to <locked yellow door>",
        "go to <closed red door>", "open <closed red door>", "go to <open blue door>", "go to <green goal>",
        "drop <blue key>"]
    boxes = "Agent sees <box>, <door>, holds <nothing>."  # the box tasks: a door without a state is locked
    assert candidate_plans(boxes) == ["explore", "go to <box>, pick up <box>", "go to <box>, open <box>"]
    assert "open <door>" in steps("Agent sees <box>, <door>, holds <key>.")


def test_the_object_the_mission_asks_to_pick_up_is_never_opened():
    # opening a box turns it into its content: UnlockPickup's box would be gone and its mission undoable
    text = "Mission: pick up the color1 box. Agent sees <color1 box>, <color2 box>, holds <nothing>."
    assert candidate_plans(text) == ["explore", "go to <color1 box>, pick up <color1 box>",
                                     "go to <color2 box>, pick up <color2 box>", "go to <color2 box>, open <color2 box>"]
    assert "open <color1 box>" not in steps(text) and "open <color2 box>" in steps(text)
    assert "go to <color1 box>, open <color1 box>" in candidate_plans(text.split(". ", 1)[1])  # no mission: offered
    assert "go to <color1 box>, open <color1 box>" in candidate_plans(text, "all")  # "all" has no such rule
    uncoloured = "Mission: pick up a box. Agent sees <box>, holds <nothing>."
    assert candidate_plans(uncoloured) == ["explore", "go to <box>, pick up <box>"]


def test_all_offers_every_verb_on_every_object_and_contains_the_afforded_set():
    text = "Agent sees <color1 key>, <color2 door>, holds <color1 key>."
    assert candidate_plans(text, "all") == [
        "explore",
        "go to <color1 key>", "go to <color1 key>, pick up <color1 key>", "go to <color1 key>, open <color1 key>",
        "go to <color2 door>", "go to <color2 door>, pick up <color2 door>", "go to <color2 door>, open <color2 door>",
        "drop <color1 key>"]  # the wrong key's door is offered too: no rule about which key opens which door
    assert "go to <color2 door>, open <color2 door>" not in candidate_plans(text)
    for t in (ROOM, text, "Agent sees <key>, <door1>, <door2>, holds <nothing>.", "Agent sees <nothing>, holds <key>."):
        held_first = f"drop {parse_text(t)[1]}, "  # afforded: a pick-up while holding drops the held one first
        assert {p.replace(held_first, "") for p in candidate_plans(t)} <= set(candidate_plans(t, "all"))
        assert set(steps(t)) <= set(steps(t, "all"))
        objects, held = parse_text(t)
        assert len(candidate_plans(t, "all")) == 1 + 3 * len(objects) + (held is not None)
    with pytest.raises(ValueError):
        candidate_plans(text, "some")


@pytest.mark.parametrize("candidates", ["afforded", "all"])
def test_every_admitted_answer_parses_into_the_options(candidates):
    grammar = grammar_for(candidates)
    assert grammar(ROOM) == observation_grammar(ROOM, candidates=candidates)
    assert grammar is (observation_grammar_all if candidates == "all" else observation_grammar)
    for k in (1, 2):
        for combo in itertools.product(steps(ROOM, candidates), repeat=k):
            sentence = "Action: {" + ", ".join(combo) + "}"
            plan = extract_plan(sentence)
            assert plan == sentence[len("Action: {"):-1]
            assert all(o.kind != "wait" for o in parse_plan(plan))  # every step is an option of the teacher
    for plan in candidate_plans(ROOM, candidates):
        assert all(o.kind != "wait" for o in parse_plan(plan))


def test_the_setting_needs_a_candidate_set():
    with pytest.raises(UserError, match="--llm_candidates all needs"):
        planner_config("--llm_url", "http://127.0.0.1:9/v1", "--llm_candidates", "all").validate()
    url = "http://127.0.0.1:9/v1"
    planner_config("--llm_url", url, "--llm_candidates", "all", "--llm_grammar").validate()
    planner_config("--llm_url", url, "--llm_candidates", "all", "--llm_plans", "logprobs").validate()


def first_token_reply(i, body):
    """A greedy answer whose first token is 'explore' (p 0.4) or 'go' (0.6)."""
    payload = completion(["Action: {explore}"])
    payload["choices"][0]["logprobs"] = {"content": [
        {"token": "Action: {", "logprob": 0.0, "top_logprobs": [{"token": "Action: {", "logprob": 0.0}]},
        {"token": "explore", "logprob": math.log(0.4), "top_logprobs": [
            {"token": "explore", "logprob": math.log(0.4)}, {"token": "go", "logprob": math.log(0.6)}]}]}
    return Reply(payload=payload)


def test_the_live_planners_use_the_setting(tmp_path):
    text = "Agent sees <door>, holds <nothing>."  # afforded: explore only (no key to open the door)
    for candidates in ("afforded", "all"):
        with FakeChatServer(first_token_reply) as fake:
            planner = build_planner(planner_config("--llm_url", fake.url, "--llm_plans", "logprobs", "--plan_cache",
                                                   "none", "--llm_candidates", candidates),
                                    task_config("SimpleDoorKey"), tmp_path)
            assert isinstance(planner, LogprobPlanner)
            dist = dict(planner.plans(text))
        if candidates == "afforded":
            assert dist == {"explore": 1.0} and not fake.bodies  # one candidate: nothing to ask
            assert "candidates" not in planner.sampling  # the plan-cache keys of earlier runs stay valid
        else:
            # the reply begun with "Action: {" for the model: the grammar admits the four plans' rest (explore, go
            # to, pick up, open <door>)
            assert fake.bodies[0]["messages"][-1] == {"role": "assistant", "content": "Action: {"}
            assert fake.bodies[0]["grammar"].count("}\"") == 4 and "Action" not in fake.bodies[0]["grammar"]
            assert dist["explore"] == pytest.approx(0.4) and sum(dist.values()) == pytest.approx(1.0)
            assert planner.sampling["candidates"] == "all"
    with FakeChatServer(honour_n(lambda k: "Action: {go to <door>, open <door>}")) as fake:
        planner = build_planner(planner_config("--llm_url", fake.url, "--llm_grammar", "--plan_cache", "none",
                                               "--llm_candidates", "all", "--n_ask", "2"),
                                task_config("SimpleDoorKey"), tmp_path)
        assert planner.plans(text) == [("go to <door>, open <door>", 1.0)]
        assert fake.bodies[0]["grammar"] == observation_grammar_all(text)
        assert planner.sampling["grammar"] == "observation_grammar_all"


def prompt_users():
    """{prompt name: the candidate settings of the tasks that send it} over configs/tasks.json and the generic
    entries of any MiniGrid or MiniWorld id (full and reduced texts)."""
    users = {}
    for cfg in [*all_tasks().values(), GENERIC, GENERIC_3D]:
        for entry in (cfg, cfg.get("reduced") or {}):
            if "prompt" in entry:
                users.setdefault(entry["prompt"], set()).add(cfg.get("llm_candidates", "afforded"))
    return users


def worked_examples(prompt):
    """(observation text, answered plan) of each worked example of a prompt in configs/prompts.json."""
    example = json.loads((CONFIG_DIR / "prompts.json").read_text())["tasks"][prompt]["example"]
    blocks = re.split(r"\n Example[ \d]*: \n", example)[1:]
    return [(b.split(" \n", 1)[0].strip(), extract_plan(b)) for b in blocks]


@pytest.mark.parametrize("prompt", sorted(prompt_users()))
def test_every_worked_example_answers_with_steps_its_own_observation_admits(prompt):
    examples = worked_examples(prompt)
    assert examples, f"prompt {prompt} has no worked example"
    for candidates in prompt_users()[prompt]:
        for text, plan in examples:
            assert plan is not None, (prompt, text)
            admitted = steps(text.replace("Agent see <", "Agent sees <"), candidates)  # (the paper's own typo)
            assert all(step in admitted for step in plan.split(", ")), (prompt, candidates, text, plan)
            assert all(o.kind != "wait" for o in parse_plan(plan)), (prompt, plan)
