"""Toy-world nodes: each rebuilds the (cheap, deterministic) world from the seed and writes one input."""

from __future__ import annotations

from typing import Any

from llm_lifecycle.toy_world.config import ToyWorldSettings, world_from_config
from llm_lifecycle.toy_world.documents import generate_documents
from llm_lifecycle.toy_world.instructions import (
    generate_instructions,
    generate_mt_bench_questions,
    generate_preference_prompts,
)

# `ToyWorldSettings` lives in the toy_world package; conf/base/parameters_toy_world.yml names it here.


def make_documents(seed: int, params: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """Web-like ru/en pages about the world mixed with labelled crawl noise; labels go to their own file."""
    cfg = ToyWorldSettings.model_validate(params)
    return generate_documents(world_from_config(seed, cfg), cfg.documents, seed)


def make_instructions(seed: int, params: dict[str, Any]) -> list[dict]:
    """Saiga-format conversations whose answers are facts of the world (SFT data)."""
    cfg = ToyWorldSettings.model_validate(params)
    return generate_instructions(world_from_config(seed, cfg), cfg.instructions, seed)


def make_preference_prompts(seed: int, params: dict[str, Any]) -> list[dict]:
    """Prompts held out from SFT, with the oracle teacher's reference answer."""
    cfg = ToyWorldSettings.model_validate(params)
    return generate_preference_prompts(world_from_config(seed, cfg), cfg.instructions, seed)


def make_mt_bench_questions(seed: int, params: dict[str, Any]) -> list[dict]:
    """MT-Bench-format two-turn questions with verifiable references, held out from SFT."""
    cfg = ToyWorldSettings.model_validate(params)
    return generate_mt_bench_questions(world_from_config(seed, cfg), cfg.instructions, seed)


def make_validation_questions(seed: int, params: dict[str, Any]) -> list[dict]:
    """MT-Bench-format questions about subjects of their own, for choosing settings (never the test)."""
    cfg = ToyWorldSettings.model_validate(params)
    return generate_mt_bench_questions(world_from_config(seed, cfg), cfg.instructions, seed, "validation")
