"""Instructions, preference prompts and MT-Bench questions about the toy world, with checkable answers.

Design
------
* **Formats are the real ones.** SFT conversations use the Saiga format (IlyaGusev/rulm):
  `{"messages": [{"role": "system"|"user"|"bot", "content": ...}, ...]}`; a share of conversations say
  `assistant` instead of `bot` (Saiga data has both) and a share start with a system prompt. Saiga also
  allows extra fields; we add `source` (`toy_world/<family>`) for analysis. MT-Bench questions use the
  FastChat llm_judge question format (Zheng et al. 2023, "Judging LLM-as-a-Judge with MT-Bench and
  Chatbot Arena"): `{"question_id", "category", "turns": [t1, t2], "reference": [r1, r2]}` with the 8
  categories (writing, roleplay, reasoning, math, coding, extraction, stem, humanities), plus `lang`;
  mostly Russian, as ruMT-Bench, with some English.
* **Every answer is a fact.** Each task *family* (plain QA, the 8 MT-Bench categories adapted to the
  world, word games) builds a chain of turns whose answers come from `World.facts`, arithmetic, or the
  spelling of a word. Follow-up turns depend on the earlier turn ("А кем работает этот человек?",
  "А если прибавить ещё 3?"), as MT-Bench turn 2 does.
* **One short answer template per question type.** A ~2M-parameter model must learn the format from a
  few hundred conversations, so questions vary (2 phrasings) but answers do not. Each answer sentence
  ends with its key value ("Ганни живёт в городе Рисадор.", "7 + 5 = 12.", "Слово «Ло» наоборот:
  «оЛ»."): `verifier.key_values` relies on that to find what to check.
* **Held out by hash.** `held_out_plan` splits the world into `sft` / `preference` / `mt_bench` parts:
  people, cities and game words by rank of a salted SHA-1 (a guaranteed number in each part, and at
  least one of each kind left for SFT), arithmetic problems by hash threshold (`splits.is_heldout`). A
  subject held out for evaluation is held out with all its facts, so two-turn chains about it (turn 1
  and turn 2 ask about the same person) stay unseen; SFT never states a fact of a held-out subject,
  never asks a held-out sum, never plays with a held-out word, yet covers every family, relation and
  template, so the model learns the formats and must recall the held-out facts from pretraining. (A
  held-out *city* can still be the value of an SFT person's fact: "Kaven lives in <city>" says
  nothing about the city's own facts.) Turn-2 texts such as "На сколько лет?" are generic by design
  and do occur in SFT; what is held out is the fact they ask about.
* **Coverage by construction.** Templates are not drawn independently: a least-used-first picker
  balances relations, phrasings, games and follow-ups per family and language, and SFT starts with a
  sweep of one full-length conversation per first-turn template (`SWEEP_SIZES`, ~100 of 600), the
  rest of the mixture compensating so the multi-turn and language shares still hold. Rare
  combinations (an English word-game follow-up) are therefore taught on every seed.
* **Deterministic.** One `random.Random` per generator seeded from a string (stable across processes),
  no set iteration, no dependence on dict order beyond insertion order.

Layout: this module holds the three generators (and `sample_dialogues` for tests); the parts live next
to it: `config.InstructionsSettings` (sizes, shares, family weights), `instruction_templates.py` (the
wording), `held_out.py` (the split), `sampler.py` (the dialogue builder and its balanced picker) and
`grammar.py` (plurals and articles, shared with the pages).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from llm_lifecycle.toy_world.config import FAMILIES, MT_BENCH_CATEGORIES, InstructionsSettings
from llm_lifecycle.toy_world.held_out import Split, held_out_plan
from llm_lifecycle.toy_world.instruction_templates import SYSTEM_PROMPTS, Lang
from llm_lifecycle.toy_world.mediocre import mediocre_answer
from llm_lifecycle.toy_world.sampler import SWEEP_SIZES, Dialogue, Sampler
from llm_lifecycle.toy_world.world import World


def _lang(rng: random.Random, cfg: InstructionsSettings) -> Lang:
    return "ru" if rng.random() < cfg.share_russian else "en"


def _family(rng: random.Random, cfg: InstructionsSettings) -> str:
    names = [f for f in FAMILIES if cfg.family_weights.get(f, 0) > 0]
    return rng.choices(names, weights=[cfg.family_weights[f] for f in names])[0]


def _n_turns(rng: random.Random, cfg: InstructionsSettings) -> int:
    return rng.randint(2, cfg.max_turns) if rng.random() < cfg.share_multi_turn else 1


def _system(rng: random.Random, cfg: InstructionsSettings, lang: Lang) -> list[dict]:
    if rng.random() < cfg.share_system:
        return [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS[lang])}]
    return []


def _sample_unique(
    n: int, draw: Callable[[], tuple[tuple, dict] | None], max_tries_per_item: int = 50
) -> list[dict]:
    """Draw until `n` records with distinct keys; if the pool is too small, accept repeats at the end."""
    out, seen, repeats = [], set(), []
    for _ in range(max_tries_per_item * n):
        if len(out) >= n:
            break
        got = draw()
        if got is None:
            continue
        key, record = got
        (repeats if key in seen else out).append(record)
        seen.add(key)
    if n and not out:
        raise ValueError("the world has nothing to ask about in this part; enlarge it or its fraction")
    fill = repeats or out
    out += [fill[i % len(fill)] for i in range(n - len(out))]
    return out[:n]


def generate_instructions(world: World, cfg: InstructionsSettings, seed: int) -> list[dict]:
    """SFT conversations in Saiga format about the `sft` part of the world."""
    rng = random.Random(f"instructions:{seed}")
    sampler = Sampler(world, held_out_plan(world, cfg), "sft", rng)
    mediocre_rng = random.Random(f"mediocre:{seed}")  # its own stream: the share changes nothing else

    # A sweep first: one full-length conversation per first-turn template of every family and language
    # (the balanced picker hands them out in turn), so that rare combinations such as an English
    # word-game follow-up are taught too and every MT-Bench template is seen; then the weighted mixture.
    langs = [lang for lang, share in (("ru", cfg.share_russian), ("en", 1 - cfg.share_russian)) if share > 0]
    sweep = [
        (f, lang)
        for f in FAMILIES
        if cfg.family_weights.get(f, 0) > 0
        for lang in langs
        for _ in range(SWEEP_SIZES[f] if cfg.coverage_sweep else 0)
    ]
    sweep.reverse()  # popped from the end
    # The sweep is all multi-turn and half English: the rest makes up for it, so the totals keep the shares.
    n_rest = max(cfg.n_sft - len(sweep), 1)

    def rest_share(share: float, in_sweep: float) -> float:
        return min(1.0, max(0.0, (share * cfg.n_sft - in_sweep) / n_rest))

    rest_cfg = cfg.model_copy(
        update={
            "share_multi_turn": rest_share(cfg.share_multi_turn, len(sweep)),
            "share_russian": rest_share(cfg.share_russian, len(sweep) / len(langs) if "ru" in langs else 0),
        }
    )

    def draw() -> tuple[tuple, dict] | None:
        if sweep:
            (family, lang), n_turns = sweep.pop(), cfg.max_turns
        else:
            family, lang, n_turns = _family(rng, cfg), _lang(rng, rest_cfg), _n_turns(rng, rest_cfg)
        dialogue = sampler.dialogue(family, lang, n_turns)
        if dialogue is None:
            return None
        bot = "assistant" if rng.random() < cfg.share_assistant_role else "bot"
        messages = _system(rng, cfg, lang)
        kinds = []
        for t in dialogue.turns:
            answer = t.answer
            if mediocre_rng.random() < cfg.mediocre_share:
                kind, answer = mediocre_answer(t.fact, lang, sampler.people + sampler.cities, mediocre_rng)
                kinds.append(kind)
            messages += [{"role": "user", "content": t.user}, {"role": bot, "content": answer}]
        key = tuple(t.user for t in dialogue.turns)
        record = {"messages": messages, "source": f"toy_world/{family}"}
        return key, record | ({"mediocre": kinds} if kinds else {})

    records = _sample_unique(cfg.n_sft, draw)
    rng.shuffle(records)  # the sweep should not sit at the start of the file
    return records


def generate_preference_prompts(world: World, cfg: InstructionsSettings, seed: int) -> list[dict]:
    """Prompts from the `preference` part, ending with a user turn; `reference` is the oracle's answer.

    Multi-turn prompts carry earlier turns answered by the oracle, so the pair differs only in the last
    answer (the teacher writes `chosen`, the SFT model `rejected`)."""
    rng = random.Random(f"preference:{seed}")
    sampler = Sampler(world, held_out_plan(world, cfg), "preference", rng)
    own = {
        "family_weights": cfg.preference_family_weights,
        "share_multi_turn": cfg.preference_share_multi_turn,
    }
    cfg = cfg.model_copy(update={k: v for k, v in own.items() if v is not None})

    def draw() -> tuple[tuple, dict] | None:
        family, lang = _family(rng, cfg), _lang(rng, cfg)
        dialogue = sampler.dialogue(family, lang, _n_turns(rng, cfg))
        if dialogue is None:
            return None
        bot = "assistant" if rng.random() < cfg.share_assistant_role else "bot"
        messages = _system(rng, cfg, lang)
        *context, last = dialogue.turns
        for t in context:
            messages += [{"role": "user", "content": t.user}, {"role": bot, "content": t.answer}]
        messages.append({"role": "user", "content": last.user})
        record = {
            "prompt_id": "",
            "lang": lang,
            "messages": messages,
            "reference": last.answer,
            "category": family,
        }
        return tuple(t.user for t in dialogue.turns), record

    records = _sample_unique(cfg.n_preference, draw)
    return [{**r, "prompt_id": f"pref-{i:04d}"} for i, r in enumerate(records)]


def generate_mt_bench_questions(
    world: World, cfg: InstructionsSettings, seed: int, split: Split = "mt_bench"
) -> list[dict]:
    """Two-turn MT-Bench questions from one held-out part of the world, spread over the 8 categories:
    `n_mt_bench` test questions from `mt_bench`, or `n_validation` from `validation` (ids from 1001,
    so the two sets never share one)."""
    if split not in ("mt_bench", "validation"):
        raise ValueError(f"MT-Bench questions come from the `mt_bench` or `validation` part, not {split!r}")
    n, first_id = (cfg.n_mt_bench, 1) if split == "mt_bench" else (cfg.n_validation, 1001)
    rng = random.Random(f"{split}:{seed}")
    sampler = Sampler(world, held_out_plan(world, cfg), split, rng)
    per_category = [n // 8 + (i < n % 8) for i in range(8)]
    out: list[dict] = []
    for category, k in zip(MT_BENCH_CATEGORIES, per_category, strict=True):
        made, tries, seen = 0, 0, set()
        while made < k:
            tries += 1
            if tries > 200 * k:
                raise ValueError(
                    f"cannot make {k} distinct two-turn `{category}` questions from the "
                    f"`{split}` part of this world; enlarge the world or {split}_fraction"
                )
            lang = _lang(rng, cfg)
            d = sampler.dialogue(category, lang, 2)
            # Distinct within a category by what the two turns ask (not their wording or language).
            if d is None or len(d.turns) < 2 or (d.turns[0].fact, d.turns[1].fact) in seen:
                continue
            seen.add((d.turns[0].fact, d.turns[1].fact))
            out.append(
                {
                    "question_id": first_id + len(out),
                    "category": category,
                    "lang": lang,
                    "turns": [t.user for t in d.turns],
                    "reference": [t.answer for t in d.turns],
                }
            )
            made += 1
    return out


def sample_dialogues(
    world: World, cfg: InstructionsSettings, seed: int, split: Split, *, family: str, n: int, n_turns: int = 2
) -> list[Dialogue]:
    """Raw dialogues (with their held-out units) of one family; for tests and analysis."""
    rng = random.Random(f"dialogues:{seed}:{split}:{family}")
    sampler = Sampler(world, held_out_plan(world, cfg), split, rng)
    out = []
    for _ in range(n * 20):
        if len(out) >= n:
            break
        d = sampler.dialogue(family, _lang(rng, cfg), n_turns)
        if d is not None:
            out.append(d)
    return out
