"""The toy world's parameters, `world_from_config`, and the relation names every module shares."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import yaml

from llm_lifecycle.pipelines.toy_world import nodes
from llm_lifecycle.toy_world import cloze, instruction_templates
from llm_lifecycle.toy_world.config import MT_BENCH_CATEGORIES, ToyWorldSettings, world_from_config
from llm_lifecycle.toy_world.fact_templates import city_facts, person_facts
from llm_lifecycle.toy_world.instructions import generate_mt_bench_questions
from llm_lifecycle.toy_world.world import CITY_RELATIONS, PERSON_RELATIONS, make_world

PARAMS = Path(__file__).parents[2] / "conf" / "base" / "parameters_toy_world.yml"


def default_settings() -> ToyWorldSettings:
    """conf/base's `toy_world` block, validated as the node validates it."""
    return ToyWorldSettings.model_validate(yaml.safe_load(PARAMS.read_text())["toy_world"])


def test_default_parameters_validate_and_build_the_world():
    cfg = default_settings()
    world = world_from_config(3, cfg)
    assert world == make_world(3, n_cities=cfg.world.n_cities, n_people=cfg.world.n_people)
    assert nodes.ToyWorldSettings is ToyWorldSettings


def test_the_default_configuration_makes_its_questions_on_any_seed():
    """`kedro run --params seed=N` must not stop at the toy world: conf/base asks for 160 test questions,
    20 per category, where the test part of its world holds 21 distinct humanities ones."""
    cfg = default_settings()
    questions = cfg.instructions
    assert (questions.n_mt_bench, questions.n_validation) == (160, 80)
    for seed in range(40):
        world = world_from_config(seed, cfg)
        for split, n in (("mt_bench", questions.n_mt_bench), ("validation", questions.n_validation)):
            made = generate_mt_bench_questions(world, questions, seed, split=split)
            counts = collections.Counter(q["category"] for q in made)
            assert counts == {c: n // 8 for c in MT_BENCH_CATEGORIES}, (seed, split)
    more = questions.model_copy(update={"n_mt_bench": 176})  # 22 per category: past what the part holds
    with pytest.raises(ValueError, match="22 distinct two-turn `humanities`"):
        generate_mt_bench_questions(world_from_config(42, cfg), more, 42)


def test_relations_are_the_worlds():
    world = make_world(5, n_cities=2, n_people=3)
    relations = list(dict.fromkeys(f.relation for f in world.facts))
    assert sorted(relations) == sorted(PERSON_RELATIONS + CITY_RELATIONS)
    assert tuple(instruction_templates.RELATIONS) == PERSON_RELATIONS + CITY_RELATIONS
    assert cloze.RELATIONS == PERSON_RELATIONS + CITY_RELATIONS
    p, c = world.people[0], world.cities[0]
    for lang in ("ru", "en"):
        assert tuple(person_facts(p, world.city_of(p), lang)) == PERSON_RELATIONS
        assert tuple(city_facts(c, lang)) == CITY_RELATIONS
