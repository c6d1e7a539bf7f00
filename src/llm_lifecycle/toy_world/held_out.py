"""The held-out plan: which part of the world SFT may see, and which is kept for preferences and MT-Bench.

`held_out_plan` splits people, cities and game words into `sft` / `preference` / `mt_bench` by rank of
a salted SHA-1 (a guaranteed number in each part, and at least one of each kind left for SFT);
arithmetic problems, which are many, by hash threshold (`splits.is_heldout`). A subject held out for
evaluation is held out with all its facts, so SFT never states a fact the evaluation asks about, and
the model must recall it from pretraining. The plan depends on names and the salt, not on the seed of
the generators, so all three (`instructions.py`) agree on it.
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

Split = Literal["sft", "preference", "mt_bench"]


def _digest(salt: str, key: str) -> bytes:
    return hashlib.sha1(f"{salt}:{key}".encode()).digest()


@dataclass(frozen=True)
class HeldOutPlan:
    """Which part (`sft`, `preference`, `mt_bench`) every person, city, game word and sum belongs to."""

    entities: dict[str, Split]  # person/city English name -> part
    words: dict[str, Split]  # "ru:Рисадор" / "en:baker" -> part
    mt_bench_fraction: float
    preference_fraction: float
    salt: str

    def arithmetic(self, a: int, op: str, b: int) -> Split:
        """Sums are many, so a plain hash threshold suffices (same hash, two cut points)."""
        key = f"{a} {op} {b}"
        salt = f"{self.salt}:arith"
        if is_heldout(key, self.mt_bench_fraction, salt):
            return "mt_bench"
        if is_heldout(key, self.mt_bench_fraction + self.preference_fraction, salt):
            return "preference"
        return "sft"


def _rank_split(keys: Sequence[str], f_mt: float, f_pref: float, salt: str) -> dict[str, Split]:
    """Sort keys by salted hash; the first ceil(f*n) go to MT-Bench, the next to preferences, the rest
    to SFT. Ranks (not thresholds) guarantee each held-out part is non-empty in a world of 8 cities,
    and at least one key is always left for SFT so every template can be taught."""
    ordered = sorted(dict.fromkeys(keys), key=lambda k: (_digest(salt, k), k))
    n = len(ordered)
    k_mt = min(math.ceil(f_mt * n), max(n - 1, 0))
    k_pref = min(math.ceil(f_pref * n), max(n - 1 - k_mt, 0))
    parts: dict[str, Split] = {}
    for i, key in enumerate(ordered):
        parts[key] = "mt_bench" if i < k_mt else "preference" if i < k_mt + k_pref else "sft"
    return parts


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
    f_mt, f_pref, salt = cfg.mt_bench_fraction, cfg.preference_fraction, cfg.split_salt
    entities = _rank_split([p.name.en for p in world.people], f_mt, f_pref, f"{salt}:people")
    entities |= _rank_split([c.name.en for c in world.cities], f_mt, f_pref, f"{salt}:cities")
    words: dict[str, Split] = {}
    for lang, ws in game_words(world).items():
        words |= _rank_split([f"{lang}:{w}" for w in ws], f_mt, f_pref, f"{salt}:words")
    return HeldOutPlan(entities, words, f_mt, f_pref, salt)
