"""--llm_generalise: a model of the LLM's answers teaches a text never asked where it is sure, the LLM is asked
where it is not (issue 63); replayed on a cache, counted, and named in the teacher's identity."""
import os

import main
from algos.experiments.answer_replay import cache_answers, replay
from algos.run.teacher_eval import teacher_identity
from planner.factory import build_planner
from planner.live.answer_model import AnswerModel
from planner.live.async_planner import AsyncPlanner
from planner.live.generalising_planner import GeneralisingPlanner
from planner.live.plan_cache import PlanCache
from tests.helpers import read_metrics, tiny_train_args
from tests.llm_fakes import FakeChatServer
from tests.test_async_teacher import live_args, slow, wait_for
from tests.test_plan_cache import SDK, responder

KEY_DOOR = "Mission: open the door. Agent sees <key>, <door>, holds <nothing>."
GET_KEY = [("go to <key>, pick up <key>", 0.75), ("go to <door>, open <door>", 0.25)]


def test_the_same_objects_in_another_order_are_guessed_with_full_confidence():
    model = AnswerModel()
    model.learn(KEY_DOOR, GET_KEY)
    assert model.guess("Mission: open the door. Agent sees <door>, <key>, holds <nothing>.") == (GET_KEY, 1.0)
    assert model.guess(KEY_DOOR) == (GET_KEY, 1.0)


def test_a_guess_keeps_only_plans_about_objects_seen_and_says_how_sure_it_is():
    model = AnswerModel()
    model.learn(KEY_DOOR, GET_KEY)
    plans, confidence = model.guess("Mission: open the door. Agent sees <door>, holds <nothing>.")
    assert plans == [("go to <door>, open <door>", 1.0)]       # the key's plan cannot be followed here
    assert confidence == 0.5 * 0.25                             # Jaccard 1/2 x the probability kept
    plans, confidence = model.guess("Mission: open the door. Agent sees <key>, <door>, <ball>, holds <nothing>.")
    assert plans == GET_KEY and abs(confidence - 2 / 3) < 1e-12


def test_another_mission_another_held_object_or_another_form_is_never_guessed():
    model = AnswerModel()
    model.learn(KEY_DOOR, GET_KEY)
    assert model.guess("Mission: go to the goal. Agent sees <key>, <door>, holds <nothing>.") is None
    assert model.guess("Mission: open the door. Agent sees <key>, <door>, holds <key>.") is None
    assert model.guess("an observation in words the model cannot read") is None
    model.learn("not a text of the teacher's form", GET_KEY)
    assert len(model) == 1


def test_equally_near_answers_are_averaged():
    model = AnswerModel()
    model.learn("Agent sees <key>, <door>, holds <nothing>.", [("go to <key>, pick up <key>", 1.0)])
    model.learn("Agent sees <key>, <box>, holds <nothing>.", [("go to <box>, open <box>", 1.0)])
    plans, confidence = model.guess("Agent sees <key>, <door>, <box>, holds <nothing>.")
    assert sorted(plans) == [("go to <box>, open <box>", 0.5), ("go to <key>, pick up <key>", 0.5)]
    assert abs(confidence - 2 / 3) < 1e-12


def test_a_replay_asks_what_the_model_is_unsure_of_and_scores_its_guesses():
    answers = [(KEY_DOOR, GET_KEY),
               ("Mission: open the door. Agent sees <door>, <key>, holds <nothing>.", GET_KEY),
               ("Mission: open the door. Agent sees <door>, holds <nothing>.", [("explore", 1.0)])]
    sure = replay(answers, 1.0)
    assert (sure.texts, sure.asked, sure.guessed, sure.same_plan, sure.mean_tv) == (3, 2, 1, 1.0, 0.0)
    bold = replay(answers, 0.1)   # the door alone guessed too (confidence 0.125), wrongly
    assert (bold.asked, bold.guessed, bold.same_plan) == (1, 2, 0.5)
    assert abs(bold.mean_tv - 0.5) < 1e-12


def test_a_blocking_teacher_asks_only_where_unsure(tmp_path):
    with FakeChatServer(responder) as fake:
        planner = build_planner(live_args(fake.url, tmp_path / "cache.json", "--llm_generalise", "0.9"), SDK,
                                str(tmp_path))
        assert isinstance(planner, GeneralisingPlanner)
        try:
            asked = planner.plans("Agent sees <key>, <door>, holds <nothing>.")
            requests = len(fake.requests)
            assert requests >= 1 and asked[0][0] == "go to <key>, pick up <key>"
            assert planner.plans("Agent sees <door>, <key>, holds <nothing>.") == asked   # guessed: not asked
            assert len(fake.requests) == requests
            door = planner.plans("Agent sees <door>, holds <nothing>.")                    # unsure: asked
            assert len(fake.requests) > requests and door[0][0] == "go to <door>, open <door>"
            stats = planner.stats()
            assert (stats["guessed_texts"], stats["guessed_lookups"], stats["queries"]) == (1, 1, 2)
        finally:
            planner.close()
        assert len(PlanCache(tmp_path / "cache.json").entries()) == 2   # a guess is never written as an answer


def test_a_text_answered_in_the_plan_cache_is_taught_by_its_answer_not_by_a_guess(tmp_path):
    path = tmp_path / "cache.json"
    with FakeChatServer(responder) as fake:
        plain = build_planner(live_args(fake.url, path), SDK, str(tmp_path))
        answered = plain.plans("Agent sees <door>, <key>, holds <nothing>.")
        plain.close()
        planner = build_planner(live_args(fake.url, path, "--llm_generalise", "0.9"), SDK, str(tmp_path))
        assert planner.plans("Agent sees <door>, <key>, holds <nothing>.") == answered
        assert planner.stats()["guessed_texts"] == 0
        planner.close()
        assert cache_answers(PlanCache(path).entries())[0][0] == "Agent sees <door>, <key>, holds <nothing>."


def test_a_non_blocking_teacher_learns_the_answers_as_they_land(tmp_path):
    with FakeChatServer(slow(0.2)) as fake:
        planner = build_planner(live_args(fake.url, tmp_path / "cache.json", "--llm_generalise", "0.9"), SDK,
                                str(tmp_path), nonblocking=True)
        assert isinstance(planner.inner, AsyncPlanner)
        try:
            assert planner.plans("Agent sees <key>, <door>, holds <nothing>.") is None   # queued, not waited for
            answer = wait_for(planner, "Agent sees <key>, <door>, holds <nothing>.")
            assert planner.plans("Agent sees <door>, <key>, holds <nothing>.") == answer
            stats = planner.stats()
            assert stats["submitted"] == 1 and stats["guessed_texts"] == 1
        finally:
            planner.close()


def test_a_training_run_shows_the_guessed_texts(tmp_path, capsys):
    with FakeChatServer(responder) as fake:
        extra = ["--llm_url", fake.url, "--n_ask", "1", "--plan_cache", str(tmp_path / "cache.json"),
                 "--llm_generalise", "0.9"]
        assert main.main(tiny_train_args(tmp_path, "g", n_itr=2, extra=extra)) == 0
    assert " guessed" in capsys.readouterr().out
    rows = read_metrics(os.path.join(tmp_path, "ppo", "SimpleDoorKey", "g-0"))
    assert "LLM/guessed_texts" in rows[-1] and "LLM/guessed_lookups" in rows[-1]


def test_the_teacher_identity_names_the_answer_model_only_where_it_is_on():
    live = {"task": "SimpleDoorKey", "llm_url": "http://127.0.0.1:1/v1"}
    assert teacher_identity(dict(live, llm_generalise=0.8))["generalise"] == 0.8
    assert "generalise" not in teacher_identity(live)
    assert "generalise" not in teacher_identity({"task": "SimpleDoorKey", "llm_generalise": 0.8})  # recorded answers
