"""Toy-world nodes: each rebuilds the (cheap, deterministic) world from the seed and writes one input."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_lifecycle.toy_world.documents import DocumentsConfig, generate_documents
from llm_lifecycle.toy_world.instructions import (
    InstructionsConfig,
    generate_instructions,
    generate_mt_bench_questions,
    generate_preference_prompts,
)
from llm_lifecycle.toy_world.world import World, make_world


class WorldConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_cities: int = Field(8, ge=1)
    n_people: int = Field(32, ge=1)


class ToyWorldConfig(BaseModel):
    """`conf/base/parameters_toy_world.yml` (key `toy_world`)."""

    model_config = ConfigDict(extra="forbid")

    world: WorldConfig = WorldConfig()
    documents: DocumentsConfig = DocumentsConfig()
    instructions: InstructionsConfig = InstructionsConfig()


def _world(seed: int, cfg: ToyWorldConfig) -> World:
    return make_world(seed, n_cities=cfg.world.n_cities, n_people=cfg.world.n_people)


def make_documents(seed: int, params: dict[str, Any]) -> tuple[list[dict], list[dict]]:
    """Web-like ru/en pages about the world mixed with labelled crawl noise; labels go to their own file."""
    cfg = ToyWorldConfig.model_validate(params)
    return generate_documents(_world(seed, cfg), cfg.documents, seed)


def make_instructions(seed: int, params: dict[str, Any]) -> list[dict]:
    """Saiga-format conversations whose answers are facts of the world (SFT data)."""
    cfg = ToyWorldConfig.model_validate(params)
    return generate_instructions(_world(seed, cfg), cfg.instructions, seed)


def make_preference_prompts(seed: int, params: dict[str, Any]) -> list[dict]:
    """Prompts held out from SFT, with the oracle teacher's reference answer."""
    cfg = ToyWorldConfig.model_validate(params)
    return generate_preference_prompts(_world(seed, cfg), cfg.instructions, seed)


def make_mt_bench_questions(seed: int, params: dict[str, Any]) -> list[dict]:
    """MT-Bench-format two-turn questions with verifiable references, held out from SFT."""
    cfg = ToyWorldConfig.model_validate(params)
    return generate_mt_bench_questions(_world(seed, cfg), cfg.instructions, seed)
