"""The toy world's parameters (`conf/base/parameters_toy_world.yml`, key `toy_world`) and the world they give.

One module for the whole schema, so the YAML can be read against one file: `ToyWorldSettings` holds the
world's size (`WorldSettings`), the web corpus (`DocumentsSettings`, with `NoiseShareSettings`) and the
instruction sets (`InstructionsSettings`). The generators (`documents.py`, `instructions.py`) take these
models; `world_from_config` is the one way every stage rebuilds the world from a seed, so the
`toy_world` pipeline and the stages that evaluate against the world (cloze probes in `pretraining`)
cannot disagree about it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llm_lifecycle.toy_world.world import World, make_world

# ---------------------------------------------------------------------------------------- world


class WorldSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n_cities: int = Field(8, ge=1)
    n_people: int = Field(32, ge=1)


# ---------------------------------------------------------------------------------------- documents
# The kinds of crawl noise `generate_documents` adds, as written in the labels' `kind` (besides "clean").
NOISE_KINDS = (
    "exact_duplicate",
    "near_duplicate",
    "boilerplate",
    "gibberish",
    "too_short",
    "symbol_heavy",
    "repeated_lines",
    "repeated_ngrams",
    "foreign_language",
)


class NoiseShareSettings(BaseModel):
    """Number of noise pages of each kind, as a share of `n_clean`."""

    model_config = ConfigDict(extra="forbid")

    exact_duplicate: float = Field(0.05, ge=0, le=1)
    near_duplicate: float = Field(0.05, ge=0, le=1)
    boilerplate: float = Field(0.03, ge=0, le=1)
    gibberish: float = Field(0.03, ge=0, le=1)
    too_short: float = Field(0.03, ge=0, le=1)
    symbol_heavy: float = Field(0.03, ge=0, le=1)
    repeated_lines: float = Field(0.03, ge=0, le=1)
    repeated_ngrams: float = Field(0.03, ge=0, le=1)
    foreign_language: float = Field(0.04, ge=0, le=1)


class DocumentsSettings(BaseModel):
    """Sizes of the raw web corpus. Defaults: ~1200 clean pages, ~0.9 M characters, ~30% noise."""

    model_config = ConfigDict(extra="forbid")

    n_clean: int = Field(1200, ge=1)
    ru_share: float = Field(0.5, ge=0, le=1)
    people_per_page: tuple[int, int] = (2, 3)  # min, max person paragraphs on a clean page
    city_paragraph_prob: float = Field(0.7, ge=0, le=1)
    extra_paragraph_prob: float = Field(0.5, ge=0, le=1)  # a worked sum, word game, program or age gap
    nav_line_prob: float = Field(0.15, ge=0, le=1)  # clean pages may carry one menu line, as real ones do
    profile_prob: float = Field(0.0, ge=0, le=1)  # a person as a directory card instead of prose
    interview_prob: float = Field(0.0, ge=0, le=1)  # ... or in their own words, quoted
    min_words: int = Field(90, ge=1)  # body words of a clean page (Gopher's floor is 50)
    noise: NoiseShareSettings = NoiseShareSettings()

    @model_validator(mode="after")
    def _page_sizes(self) -> DocumentsSettings:
        lo, hi = self.people_per_page
        if not 1 <= lo <= hi:
            raise ValueError(f"people_per_page must be (min, max), 1 <= min <= max: {self.people_per_page}")
        if self.profile_prob + self.interview_prob > 1:
            raise ValueError("profile_prob + interview_prob must be at most 1 (the rest is prose)")
        return self


# ---------------------------------------------------------------------------------------- instructions
MT_BENCH_CATEGORIES: tuple[str, ...] = (
    "writing",
    "roleplay",
    "reasoning",
    "math",
    "coding",
    "extraction",
    "stem",
    "humanities",
)
# Plain QA and word games are not MT-Bench categories but teach the basic templates.
FAMILIES: tuple[str, ...] = ("qa", "word", *MT_BENCH_CATEGORIES)

_DEFAULT_WEIGHTS: dict[str, float] = {
    "qa": 0.30,
    "word": 0.08,
    "writing": 0.06,
    "roleplay": 0.08,
    "reasoning": 0.08,
    "math": 0.14,
    "coding": 0.06,
    "extraction": 0.08,
    "stem": 0.06,
    "humanities": 0.06,
}


class InstructionsSettings(BaseModel):
    """Sizes and mixture of the SFT, preference and MT-Bench sets (`toy_world.instructions`)."""

    model_config = ConfigDict(extra="forbid")

    n_sft: int = Field(600, ge=0)  # conversations
    n_preference: int = Field(200, ge=0)  # prompts for teacher-vs-SFT pairs
    n_mt_bench: int = Field(40, ge=0)  # two-turn test questions, spread evenly over the 8 categories
    n_validation: int = Field(40, ge=0)  # two-turn validation questions (settings are chosen on these)
    share_multi_turn: float = Field(0.3, ge=0, le=1)  # SFT/preference conversations with follow-ups
    max_turns: int = Field(3, ge=2)  # user turns in a multi-turn SFT conversation (2..max_turns)
    coverage_sweep: bool = True  # start SFT with one full-length conversation per template and language
    share_system: float = Field(0.3, ge=0, le=1)  # conversations that start with a system prompt
    share_assistant_role: float = Field(0.1, ge=0, le=1)  # `assistant` instead of Saiga's `bot`
    share_russian: float = Field(0.8, ge=0, le=1)  # the rest is English
    mt_bench_fraction: float = Field(0.15, ge=0, lt=1)  # of people/cities/words/sums, held out for MT-Bench
    validation_fraction: float = Field(0.15, ge=0, lt=1)  # ... for the validation questions
    preference_fraction: float = Field(0.15, ge=0, lt=1)  # ... and for preference prompts
    split_salt: str = "toy_world_instructions"
    # SFT answers replaced by a mediocre one (vague, wrong relation, language or subject; mediocre.py).
    mediocre_share: float = Field(0.0, ge=0, le=1)
    family_weights: dict[str, float] = Field(default_factory=lambda: dict(_DEFAULT_WEIGHTS))
    # The preference prompts' own mixture (None: the SFT mixture above).
    preference_family_weights: dict[str, float] | None = None
    preference_share_multi_turn: float | None = Field(None, ge=0, le=1)

    @field_validator("family_weights", "preference_family_weights")
    @classmethod
    def _known_families(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        unknown = sorted(set(v) - set(FAMILIES))
        if unknown or any(w < 0 for w in v.values()) or sum(v.values()) <= 0:
            raise ValueError(f"family_weights needs non-negative weights over {FAMILIES}; unknown: {unknown}")
        return v

    @model_validator(mode="after")
    def _fractions_fit(self) -> InstructionsSettings:
        if self.mt_bench_fraction + self.validation_fraction + self.preference_fraction >= 1:
            raise ValueError(
                "mt_bench_fraction + validation_fraction + preference_fraction must leave something for SFT"
            )
        return self


# ---------------------------------------------------------------------------------------- all of it


class ToyWorldSettings(BaseModel):
    """`conf/base/parameters_toy_world.yml` (key `toy_world`)."""

    model_config = ConfigDict(extra="forbid")

    world: WorldSettings = WorldSettings()
    documents: DocumentsSettings = DocumentsSettings()
    instructions: InstructionsSettings = InstructionsSettings()


def world_from_config(seed: int, cfg: ToyWorldSettings) -> World:
    """The world of `cfg` for `seed` (cheap and deterministic, so each stage rebuilds it)."""
    return make_world(seed, n_cities=cfg.world.n_cities, n_people=cfg.world.n_people)
