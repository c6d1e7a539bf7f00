"""The held-out plan: which part of the world SFT may see, and which is kept for preferences and evaluation.

`held_out_plan` splits people, cities and game words into `sft` / `preference` / `validation` /
`mt_bench` by rank of a salted SHA-1 (a guaranteed number in each part, and at least one of each kind
left for SFT); arithmetic problems, which are many, by hash threshold (`splits.is_heldout`). A subject
held out for evaluation is held out with all its facts, so SFT never states a fact the evaluation asks
about, and the model must recall it from pretraining. `validation` questions are about subjects of
their own, so settings chosen on them were never chosen on the MT-Bench test subjects. The plan
depends on names and the salt, not on the seed of the generators, so all generators
(`instructions.py`) agree on it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from llm_lifecycle.splits import is_heldout
from llm_lifecycle.toy_world.config import InstructionsSettings
from llm_lifecycle.toy_world.world import COLORS, COUNTRIES, PETS, PROFESSIONS, World

Split = Literal["sft", "preference", "validation", "mt_bench"]


def _digest(salt: str, key: str) -> bytes:
    return hashlib.sha1(f"{salt}:{key}".encode()).digest()


@dataclass(frozen=True)
class HeldOutPlan:
    """Which part (`sft`, `preference`, `validation`, `mt_bench`) every person, city, game word and sum
    belongs to."""

    entities: dict[str, Split]  # person/city English name -> part
    words: dict[str, Split]  # "ru:Рисадор" / "en:baker" -> part
    fractions: tuple[tuple[Split, float], ...]  # held-out parts in rank order, with their shares
    salt: str

    def arithmetic(self, a: int, op: str, b: int) -> Split:
        """Sums are many, so a plain hash threshold suffices (same hash, one cut point per part)."""
        key, salt, cut = f"{a} {op} {b}", f"{self.salt}:arith", 0.0
        for part, fraction in self.fractions:
            cut += fraction
            if is_heldout(key, cut, salt):
                return part
        return "sft"


def _rank_split(keys: Sequence[str], fractions: Sequence[tuple[Split, float]], salt: str) -> dict[str, Split]:
    """Sort keys by salted hash; the first ceil(f*n) go to the first held-out part, the next to the
    second, ..., the rest to SFT. Ranks (not thresholds) guarantee each held-out part is non-empty in a
    world of a few cities, and at least one key is always left for SFT so every template can be taught."""
    ordered = sorted(dict.fromkeys(keys), key=lambda k: (_digest(salt, k), k))
    n, start = len(ordered), 0
    parts: dict[str, Split] = {}
    for part, fraction in fractions:
        k = min(math.ceil(fraction * n), max(n - 1 - start, 0))
        parts |= {key: part for key in ordered[start : start + k]}
        start += k
    return parts | {key: "sft" for key in ordered[start:]}


def game_words(world: World) -> dict[str, list[str]]:
    """Words for word games and code questions: the world's names and vocabulary, per language."""
    out: dict[str, list[str]] = {}
    for lang in ("ru", "en"):
        names = [getattr(p.name, lang) for p in world.people]
        names += [getattr(c.name, lang) for c in world.cities]
        names += [getattr(c.river, lang) for c in world.cities]
        vocab = [pair[0 if lang == "en" else 1] for pair in (*PROFESSIONS, *PETS, *COLORS, *COUNTRIES)]
        out[lang] = list(dict.fromkeys(names + vocab))
    return out


def held_out_plan(world: World, cfg: InstructionsSettings) -> HeldOutPlan:
    """The deterministic split shared by all three generators (it depends on names, not on `seed`)."""
    # MT-Bench first and preferences last: the test and preference parts of a world are the same as
    # before the validation part existed, when its fraction is 0.
    fractions: tuple[tuple[Split, float], ...] = (
        ("mt_bench", cfg.mt_bench_fraction),
        ("validation", cfg.validation_fraction),
        ("preference", cfg.preference_fraction),
    )
    salt = cfg.split_salt
    entities = _rank_split([p.name.en for p in world.people], fractions, f"{salt}:people")
    entities |= _rank_split([c.name.en for c in world.cities], fractions, f"{salt}:cities")
    words: dict[str, Split] = {}
    for lang, ws in game_words(world).items():
        words |= _rank_split([f"{lang}:{w}" for w in ws], fractions, f"{salt}:words")
    return HeldOutPlan(entities, words, fractions, salt)
