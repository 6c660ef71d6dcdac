"""Normalisation of model answers, and the answer parser."""

import pytest

pytest.importorskip("inflect")

from discover_llm.base import parse_answer
from discover_llm.normalize import clean, normalize_labels
from discover_llm.prompt import task_prompt
from discover_core.interfaces import TaskSpec


@pytest.mark.parametrize("raw, want", [
    ("1. Cat", "cat"), ("12) dogs", "dog"), ("(3) Traffic Lights", "traffic light"), ("- bus", "bus"),
    ("* Hair Dryers.", "hair dryer"), ("\u2022 knives", "knife"), ('"Wine Bottles",', "wine bottle"),
    ("people", "person"), ("mice", "mouse"), ("sheep", "sheep"), ("glass", "glass"), ("cactus", "cactus"),
    ("scissors", "scissors"), ("jeans", "jeans"), ("axis", "axis"), ("kiwis", "kiwi"), ("TV", "tv"),
    ("  fire   hydrant ", "fire hydrant"), ("2. - Boxes", "box"), ("", ""), ("3.", ""), ("wolves", "wolf"),
])
def test_clean(raw, want):
    assert clean(raw) == want


def test_duplicates_and_empties_go_first_spelling_stays_in_place():
    assert normalize_labels(["Cats", "dog", "cat", "", "  ", "1. Dogs", "bird\nplane", 7]) == \
        ["cat", "dog", "bird", "plane"]


def test_parse_answer():
    assert parse_answer('{"labels": ["a", "b"]}') == ["a", "b"]
    assert parse_answer('```json\n{"labels": ["a"]}\n```') == ["a"]
    for bad in ("", "cat, dog", '{"labels": "cat"}', '{"labels": [1]}', '["cat"]', '{"labels": [], "x": 1}'):
        assert parse_answer(bad) is None, bad


def test_prompt_is_algorithm_1_in_order():
    text = task_prompt(TaskSpec("vehicle classification", "classify vehicles by type"), 150)
    order = ["Suppose you are an AI assistant", "should not be fewer than 150", "determine the granularity",
             "such as the sky or rivers", "overly general categories",
             "I am working on the vehicle classification and need a representative label list",
             "The task description is as classify vehicles by type."]
    positions = [text.index(p) for p in order]
    assert positions == sorted(positions)
