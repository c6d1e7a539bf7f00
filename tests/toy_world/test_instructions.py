"""SFT instructions, preference prompts and MT-Bench questions: format, correctness, held-out split."""

from __future__ import annotations

import collections
import contextlib
import io
import json
import re

import pytest
from pydantic import ValidationError

from llm_lifecycle.toy_world.config import FAMILIES, MT_BENCH_CATEGORIES, InstructionsSettings
from llm_lifecycle.toy_world.held_out import game_words, held_out_plan
from llm_lifecycle.toy_world.instruction_templates import RELATIONS, ROLEPLAY, WORD_GAMES, fact_answer
from llm_lifecycle.toy_world.instructions import (
    generate_instructions,
    generate_mt_bench_questions,
    generate_preference_prompts,
    sample_dialogues,
)
from llm_lifecycle.toy_world.world import PERSON_RELATIONS, World, make_world

SEED = 42
BOT_ROLES = {"bot", "assistant"}
FACT_FAMILIES = {"qa", "writing", "roleplay", "reasoning", "extraction", "stem", "humanities"}


@pytest.fixture(scope="module")
def world() -> World:
    return make_world(SEED)


@pytest.fixture(scope="module")
def cfg() -> InstructionsSettings:
    return InstructionsSettings()


@pytest.fixture(scope="module")
def sft(world, cfg) -> list[dict]:
    return generate_instructions(world, cfg, SEED)


@pytest.fixture(scope="module")
def prefs(world, cfg) -> list[dict]:
    return generate_preference_prompts(world, cfg, SEED)


@pytest.fixture(scope="module")
def mt(world, cfg) -> list[dict]:
    return generate_mt_bench_questions(world, cfg, SEED)


def _user_texts(records: list[dict]) -> list[str]:
    return [m["content"] for r in records for m in r["messages"] if m["role"] == "user"]


def _pairs(messages: list[dict]) -> list[tuple[str, str]]:
    """(user, answer) pairs of a conversation without its system prompt."""
    body = [m for m in messages if m["role"] != "system"]
    return [(body[i]["content"], body[i + 1]["content"]) for i in range(0, len(body) - 1, 2)]


# ------------------------------------------------------------------------------ an independent checker
class WorldChecker:
    """Re-derives every answer from the world by parsing the text (not by calling the generator)."""

    def __init__(self, world: World):
        self.people = {}
        self.cities = {}
        for p in world.people:
            for lang in ("en", "ru"):
                self.people[getattr(p.name, lang)] = (p, lang)
        for c in world.cities:
            for lang in ("en", "ru"):
                self.cities[getattr(c.name, lang)] = (c, lang)
        self.world = world

    def person_value(self, name: str, relation: str, lang: str) -> str:
        p, _ = self.people[name]
        return {
            "city": getattr(self.world.city_of(p).name, lang),
            "age": str(p.age),
            "profession": getattr(p.profession, lang),
            "pet": getattr(p.pet, lang),
            "color": getattr(p.color, lang),
        }[relation]

    def city_value(self, name: str, relation: str, lang: str) -> str:
        c, _ = self.cities[name]
        return {
            "country": getattr(c.country, lang),
            "river": getattr(c.river, lang),
            "population": str(c.population),
            "founded": str(c.founded),
        }[relation]

    PERSON_PATTERNS = [
        (r"^(\w+) живёт в городе (\w+)\.$", "city", "ru"),
        (r"^(\w+) lives in (\w+)\.$", "city", "en"),
        (r"^(\w+): возраст (\d+) (?:год|года|лет)\.$", "age", "ru"),
        (r"^(\w+) is (\d+) years? old\.$", "age", "en"),
        (r"^(\w+) — (\w+)\.$", "profession", "ru"),
        (r"^(\w+) is an? (\w+)\.$", "profession", "en"),
        (r"^(\w+) держит питомца: (\w+)\.$", "pet", "ru"),
        (r"^(\w+) has an? (\w+)\.$", "pet", "en"),
        (r"^(\w+) больше всего любит цвет: (\w+)\.$", "color", "ru"),
        (r"^The favourite colour of (\w+) is (\w+)\.$", "color", "en"),
    ]
    CITY_PATTERNS = [
        (r"^Город (\w+) находится в стране (\w+)\.$", "country", "ru"),
        (r"^(\w+) is in (\w+)\.$", "country", "en"),
        (r"^Город (\w+) стоит на реке (\w+)\.$", "river", "ru"),
        (r"^(\w+) stands on the river (\w+)\.$", "river", "en"),
        (r"^В городе (\w+) живёт (\d+) (?:тысяча|тысячи|тысяч) человек\.$", "population", "ru"),
        (r"^(\w+) has (\d+) thousand inhabitants\.$", "population", "en"),
        (r"^Город (\w+) основан в (\d+) году\.$", "founded", "ru"),
        (r"^(\w+) was founded in (\d+)\.$", "founded", "en"),
    ]
    ROLE_PATTERNS = [
        (r"^Я живу в городе (\w+)\.$", "city", "ru"),
        (r"^I live in (\w+)\.$", "city", "en"),
        (r"^Мне (\d+) (?:год|года|лет)\.$", "age", "ru"),
        (r"^I am (\d+) years? old\.$", "age", "en"),
        (r"^Я — (\w+)\.$", "profession", "ru"),
        (r"^I am an? (\w+)\.$", "profession", "en"),
        (r"^У меня питомец: (\w+)\.$", "pet", "ru"),
        (r"^I have an? (\w+)\.$", "pet", "en"),
        (r"^Мой любимый цвет — (\w+)\.$", "color", "ru"),
        (r"^My favourite colour is (\w+)\.$", "color", "en"),
    ]

    def check(self, pairs: list[tuple[str, str]]) -> None:
        """Assert every answer of a conversation is right; fail on an answer no rule recognises."""
        role, pair, word = None, None, None
        for user, answer in pairs:
            if m := re.match(r"^(?:Представь, что ты|Imagine you are) (\w+)\.", user):
                role = m.group(1)
            if m := re.search(r"(?:старше|младше|older|younger): (\w+) (?:или|or) (\w+)\?", user):
                pair = (m.group(1), m.group(2))
            if m := re.search(r'[«"](\w+)[»"]', user):
                word = m.group(1)
            assert self._answer_ok(user, answer, role, pair, word), (user, answer)

    def _answer_ok(self, user, answer, role, pair, word) -> bool:  # noqa: PLR0911
        for pattern, rel, lang in self.PERSON_PATTERNS:
            if (m := re.match(pattern, answer)) and m.group(1) in self.people:
                return m.group(2) == self.person_value(m.group(1), rel, lang)
        for pattern, rel, lang in self.CITY_PATTERNS:
            if (m := re.match(pattern, answer)) and m.group(1) in self.cities:
                return m.group(2) == self.city_value(m.group(1), rel, lang)
        for pattern, rel, lang in self.ROLE_PATTERNS:
            if m := re.match(pattern, answer):
                return m.group(1) == self.person_value(role, rel, lang)
        if m := re.match(r"^(\d+) ([+-]) (\d+) = (\d+)\.$", answer):
            a, op, b, c = int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4))
            return c == (a + b if op == "+" else a - b)
        if m := re.match(r"^(\w+) (старше|младше|is older|is younger)\.$", answer):
            ages = {n: self.people[n][0].age for n in pair}
            pick = max if m.group(2) in ("старше", "is older") else min
            return m.group(1) == pick(ages, key=ages.get)
        if m := re.match(r"^(?:На|By) (\d+) (?:год|года|лет|years?)\.$", answer):
            return int(m.group(1)) == abs(self.people[pair[0]][0].age - self.people[pair[1]][0].age)
        if m := re.match(
            r'^(?:Слово «\w+» наоборот: «(\w+)»|The word "\w+" backwards is "(\w+)")\.$', answer
        ):
            return (m.group(1) or m.group(2)) == word[::-1]
        if m := re.match(
            r'^(?:В слове «\w+»|The word "\w+" has) (\d+) (?:буква|буквы|букв|letters?)\.$', answer
        ):
            return int(m.group(1)) == len(word)
        if m := re.match(
            r"^(?:Слово «\w+» начинается с буквы «(\w)»"
            r'|The word "\w+" starts with the letter "(\w)")\.$',
            answer,
        ):
            return (m.group(1) or m.group(2)) == word[0]
        if m := re.match(r'^(?:Программа выведет: |The program prints )(?:«(\w+)»|"(\w+)"|(\d+))\.$', answer):
            expr = re.search(r"print\((.+)\)", user).group(1)  # run the program the question shows
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                print(eval(expr, {"s": word, "len": len}))  # noqa: S307 - our own generated snippet
            return out.getvalue().strip() == (m.group(1) or m.group(2) or m.group(3))
        return False


# ---------------------------------------------------------------------------------------- config
def test_config_defaults_and_validation():
    cfg = InstructionsSettings()
    assert (cfg.n_sft, cfg.n_preference, cfg.n_mt_bench, cfg.n_validation) == (600, 200, 40, 40)
    assert set(cfg.family_weights) == set(FAMILIES)
    with pytest.raises(ValidationError):
        InstructionsSettings(n_sft=10, unknown=1)
    with pytest.raises(ValidationError):
        InstructionsSettings(mt_bench_fraction=0.6, preference_fraction=0.5)
    with pytest.raises(ValidationError, match="validation_fraction"):
        InstructionsSettings(mt_bench_fraction=0.4, validation_fraction=0.3, preference_fraction=0.3)
    with pytest.raises(ValidationError):
        InstructionsSettings(family_weights={"poetry": 1.0})


# ---------------------------------------------------------------------------------------- determinism
def test_deterministic(world, cfg, sft, prefs, mt):
    again = make_world(SEED)
    assert generate_instructions(again, cfg, SEED) == sft
    assert generate_preference_prompts(again, cfg, SEED) == prefs
    assert generate_mt_bench_questions(again, cfg, SEED) == mt
    assert generate_instructions(world, cfg, SEED + 1) != sft
    assert json.loads(json.dumps(sft, ensure_ascii=False)) == sft  # plain JSON, as the JSONL dataset writes


# ---------------------------------------------------------------------------------------- formats
def _assert_alternates(messages: list[dict], last: str) -> None:
    roles = [m["role"] for m in messages]
    body = roles[1:] if roles[0] == "system" else roles
    assert "system" not in body
    assert body and body[0] == "user"
    for i, role in enumerate(body):
        assert role == "user" if i % 2 == 0 else role in BOT_ROLES, roles
    assert (body[-1] in BOT_ROLES) if last == "bot" else body[-1] == "user"
    assert len({r for r in body if r in BOT_ROLES}) <= 1  # one name for the bot per conversation
    assert all(isinstance(m["content"], str) and m["content"].strip() for m in messages)


def test_sft_saiga_format_and_mixture(sft, cfg):
    assert len(sft) == cfg.n_sft
    for r in sft:
        assert set(r) == {"messages", "source"} and r["source"].removeprefix("toy_world/") in FAMILIES
        _assert_alternates(r["messages"], last="bot")
    n = len(sft)
    roles = [m["role"] for r in sft for m in r["messages"]]
    assert "assistant" in roles and "bot" in roles
    with_system = sum(r["messages"][0]["role"] == "system" for r in sft) / n
    multi = sum(len(_pairs(r["messages"])) > 1 for r in sft) / n
    russian = sum(bool(re.search("[а-яё]", _pairs(r["messages"])[0][0], re.I)) for r in sft) / n
    assert 0.2 < with_system < 0.4 and 0.2 < multi < 0.4
    assert 0.7 < russian < 0.9  # mostly Russian, some English
    assert len({json.dumps(r["messages"], ensure_ascii=False) for r in sft}) == n


def test_preference_prompt_format(prefs, cfg):
    assert len(prefs) == cfg.n_preference
    assert len({p["prompt_id"] for p in prefs}) == len(prefs)
    for p in prefs:
        assert set(p) == {"prompt_id", "lang", "messages", "reference", "category"}
        assert p["lang"] in ("ru", "en") and p["category"] in FAMILIES and p["reference"].strip()
        _assert_alternates(p["messages"], last="user")
        assert bool(re.search("[а-яё]", p["messages"][-1]["content"], re.I)) == (p["lang"] == "ru")
    assert any(len(p["messages"]) > 2 for p in prefs)  # some prompts carry an earlier exchange


def test_mt_bench_format(mt, cfg):
    assert len(mt) == cfg.n_mt_bench
    assert [q["question_id"] for q in mt] == list(range(1, len(mt) + 1))
    counts = collections.Counter(q["category"] for q in mt)
    assert counts == {c: cfg.n_mt_bench // 8 for c in MT_BENCH_CATEGORIES}
    for q in mt:
        assert set(q) == {"question_id", "category", "lang", "turns", "reference"}
        assert len(q["turns"]) == 2 and len(q["reference"]) == 2
        assert all(isinstance(t, str) and t.strip() for t in q["turns"] + q["reference"])
    russian = sum(q["lang"] == "ru" for q in mt) / len(mt)
    assert 0.6 <= russian < 1.0


def test_mt_bench_turn_two_depends_on_turn_one(world, mt):
    """Turn 2 names no new subject: it refers back ("этот человек", "it", "s", "ещё 3") to turn 1."""
    names = {getattr(x.name, lang) for x in [*world.people, *world.cities] for lang in ("ru", "en")}
    for q in mt:
        t1, t2 = q["turns"]
        assert not (set(re.findall(r"\w+", t2)) & names) - set(re.findall(r"\w+", t1)), (t1, t2)
        assert q["reference"][0] != q["reference"][1]


# ---------------------------------------------------------------------------------------- correctness
def test_every_answer_is_correct_in_the_world(world, sft, prefs, mt):
    checker = WorldChecker(world)
    for r in sft:
        checker.check(_pairs(r["messages"]))
    for p in prefs:
        checker.check(_pairs([*p["messages"], {"role": "bot", "content": p["reference"]}]))
    for q in mt:
        checker.check(list(zip(q["turns"], q["reference"], strict=True)))


def test_fact_answer_template_matches_world(world):
    p = world.people[0]
    city = world.city_of(p)
    assert fact_answer(p.name, "city", city.name, "ru") == f"{p.name.ru} живёт в городе {city.name.ru}."
    assert fact_answer(p.name, "city", city.name, "en") == f"{p.name.en} lives in {city.name.en}."
    age = [f.value for f in world.facts if f.subject == p.name and f.relation == "age"][0]
    assert fact_answer(p.name, "age", age, "en") == f"{p.name.en} is {p.age} years old."


# ---------------------------------------------------------------------------------------- held out
def _shape(text: str, names: list[str]) -> str:
    """The template of a text: names and game words -> @, numbers (with the noun form after them) -> #."""
    pattern = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    text = re.sub(rf"(?<!\w)(?:{pattern})(?!\w)", "@", text)
    return re.sub(r"\d+( (?:года|год|лет|тысячу|тысячи|тысяч|years|year|thousand)\b)?", "#", text)


def test_plan_holds_out_some_of_everything(world, cfg):
    plan = held_out_plan(world, cfg)
    people = collections.Counter(plan.entities[p.name.en] for p in world.people)
    cities = collections.Counter(plan.entities[c.name.en] for c in world.cities)
    assert people == {"mt_bench": 5, "validation": 5, "preference": 5, "sft": 17}
    assert cities == {"mt_bench": 2, "validation": 2, "preference": 2, "sft": 2}
    sums = collections.Counter(plan.arithmetic(a, "+", b) for a in range(1, 31) for b in range(1, 31))
    assert all(0.1 < sums[part] / 900 < 0.2 for part in ("mt_bench", "validation", "preference"))
    # Without a validation part, the test and preference parts are what they were before it existed.
    before = held_out_plan(world, cfg.model_copy(update={"validation_fraction": 0.0}))
    assert "validation" not in before.entities.values()
    assert {k for k, v in before.entities.items() if v == "mt_bench"} == {
        k for k, v in plan.entities.items() if v == "mt_bench"
    }
    assert held_out_plan(make_world(SEED), cfg) == plan


def test_heldout_texts_never_in_sft(sft, prefs, mt):
    sft_users = set(_user_texts(sft))
    sft_sequences = {tuple(u for u, _ in _pairs(r["messages"])) for r in sft}
    for q in mt:
        assert q["turns"][0] not in sft_users
        assert not any(seq[:2] == tuple(q["turns"]) for seq in sft_sequences)
    for p in prefs:
        users = [m["content"] for m in p["messages"] if m["role"] == "user"]
        assert users[0] not in sft_users  # later turns may be generic follow-ups ("На сколько лет?")
        assert not any(seq[: len(users)] == tuple(users) for seq in sft_sequences)
    assert not {q["turns"][0] for q in mt} & {_user_texts([p])[0] for p in prefs}


def test_heldout_subjects_facts_never_in_sft(world, cfg, sft):
    plan = held_out_plan(world, cfg)
    held = [s for s in [*world.people, *world.cities] if plan.entities[s.name.en] != "sft"]
    # Held-out people never occur in fact conversations (people are never the value of a fact; a held-out
    # city may: "Kaven lives in <held-out city>" is a fact about Kaven, not about the city).
    held_people = {getattr(p.name, lang) for p in world.people if p in held for lang in ("ru", "en")}
    sft_texts = [m["content"] for r in sft for m in r["messages"]]
    for r in sft:
        if r["source"].removeprefix("toy_world/") in FACT_FAMILIES:
            words = set(re.findall(r"\w+", " ".join(m["content"] for m in r["messages"])))
            assert not words & held_people, r
    held_subjects = {s.name for s in held}
    for f in world.facts:  # the exact (subject, relation) answers of held-out subjects, both languages
        if f.subject in held_subjects:
            for lang in ("ru", "en"):
                sentence = fact_answer(f.subject, f.relation, f.value, lang)
                assert not any(sentence in t for t in sft_texts)


def test_heldout_units_by_split(world, cfg):
    """Every turn of every family draws only on its own part: entities, sums and words."""
    plan = held_out_plan(world, cfg)
    words = {f"{lang}:{w}": plan.words[f"{lang}:{w}"] for lang, ws in game_words(world).items() for w in ws}
    for split in ("sft", "preference", "validation", "mt_bench"):
        for family in FAMILIES:
            for d in sample_dialogues(world, cfg, SEED, split, family=family, n=30, n_turns=3):
                for t in d.turns:
                    for unit in t.units:
                        kind, _, key = unit.partition(":")
                        if kind == "entity":
                            assert plan.entities[key] == split
                        elif kind == "word":
                            assert words[key] == split
                        else:
                            a, op, b = key.split()
                            assert plan.arithmetic(int(a), op, int(b)) == split


def test_sft_covers_every_template(world, sft, prefs, mt):
    names = [getattr(x, lang) for p in world.people for x in (p.name,) for lang in ("ru", "en")]
    names += [getattr(x, lang) for c in world.cities for x in (c.name, c.river) for lang in ("ru", "en")]
    names += [w for ws in game_words(world).values() for w in ws]
    sft_shapes = {_shape(u, names) for u in _user_texts(sft)}
    sft_lower = " ".join(_user_texts(sft)).lower()
    assert {r["source"].removeprefix("toy_world/") for r in sft} == set(FAMILIES)
    for rel, text in RELATIONS.items():
        for lang in ("ru", "en"):
            for q in (*text.questions[lang], text.followup[lang]):
                head = q.split("{s}")[0].lower()
                assert head in sft_lower, (rel, q)
    for rel in PERSON_RELATIONS:
        for lang in ("ru", "en"):
            assert ROLEPLAY[rel][lang][0].lower().rstrip("?") in sft_lower
    for game in WORD_GAMES.values():
        for lang in ("ru", "en"):
            assert game[lang][1] in sft_lower or game[lang][1].lower() in sft_lower
    # MT-Bench and preference questions are unseen, but their templates are not.
    for q in mt:
        if q["category"] != "extraction":
            assert _shape(q["turns"][0], names) in sft_shapes, q["turns"][0]
        assert _shape(q["turns"][1], names) in sft_shapes, q["turns"][1]
    for p in prefs:
        last = p["messages"][-1]["content"]
        if p["category"] != "extraction":
            assert _shape(last, names) in sft_shapes, last


def test_small_world_still_makes_sft_and_says_when_mt_bench_cannot(cfg):
    tiny = make_world(3, n_cities=2, n_people=4)
    small = cfg.model_copy(update={"n_sft": 50, "n_preference": 10, "n_mt_bench": 8})
    sft = generate_instructions(tiny, small, 3)
    assert len(sft) == 50
    WorldChecker(tiny).check(_pairs(sft[0]["messages"]))
    assert len(generate_preference_prompts(tiny, small, 3)) == 10
    with pytest.raises(ValueError, match="enlarge"):
        generate_mt_bench_questions(tiny, small, 3)  # one held-out person cannot be compared with another


@pytest.mark.parametrize("seed", [0, 7, 123])
def test_properties_hold_for_other_seeds(seed, cfg):
    """Coverage and held-out guarantees do not depend on a lucky seed."""
    w = make_world(seed)
    sft = generate_instructions(w, cfg, seed)
    prefs = generate_preference_prompts(w, cfg, seed)
    mt = generate_mt_bench_questions(w, cfg, seed)
    test_sft_saiga_format_and_mixture(sft, cfg)
    test_preference_prompt_format(prefs, cfg)
    test_mt_bench_format(mt, cfg)
    test_every_answer_is_correct_in_the_world(w, sft, prefs, mt)
    test_heldout_texts_never_in_sft(sft, prefs, mt)
    test_heldout_subjects_facts_never_in_sft(w, cfg, sft)
    test_sft_covers_every_template(w, sft, prefs, mt)


# ---------------------------------------------------------------------------------------- validation
def test_validation_questions_have_subjects_of_their_own(world, cfg, mt, sft, prefs):
    val = generate_mt_bench_questions(world, cfg, SEED, "validation")
    assert len(val) == cfg.n_validation and val[0]["question_id"] == 1001
    assert collections.Counter(q["category"] for q in val) == {
        c: cfg.n_validation // 8 for c in MT_BENCH_CATEGORIES
    }
    plan = held_out_plan(world, cfg)
    names = {
        lang: {getattr(s.name, lang): plan.entities[s.name.en] for s in [*world.people, *world.cities]}
        for lang in ("ru", "en")
    }
    asked = collections.Counter()
    for q in val:
        # game words (code) have a split of their own; an extraction text states cities as values
        if q["category"] not in FACT_FAMILIES - {"extraction"}:
            continue
        for name, part in names[q["lang"]].items():
            if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", q["turns"][0]):
                asked[part] += 1
    assert set(asked) == {"validation"}  # the people and cities it asks about are validation ones
    test_firsts = {q["turns"][0] for q in mt}
    assert not test_firsts & {q["turns"][0] for q in val}
    assert not {q["turns"][0] for q in val} & set(_user_texts(sft))
    with pytest.raises(ValueError, match="`mt_bench` or `validation`"):
        generate_mt_bench_questions(world, cfg, SEED, "sft")


# ---------------------------------------------------------------------------------------- mediocre answers
def test_mediocre_share_replaces_that_share_of_sft_answers_and_nothing_else(world, cfg, sft):
    noisy = generate_instructions(world, cfg.model_copy(update={"mediocre_share": 0.3}), SEED)
    answers = [m for r in noisy for m in r["messages"] if m["role"] in BOT_ROLES]
    kinds = collections.Counter(k for r in noisy for k in r.get("mediocre", []))
    assert 0.25 < sum(kinds.values()) / len(answers) < 0.35
    assert set(kinds) == {"vague", "wrong_relation", "wrong_language", "wrong_entity"}
    # the same conversations, questions and order: only answers change, and only where marked
    assert [[m["content"] for m in r["messages"] if m["role"] == "user"] for r in noisy] == [
        [m["content"] for m in r["messages"] if m["role"] == "user"] for r in sft
    ]
    changed = sum(
        a != b
        for r, o in zip(noisy, sft, strict=True)
        for a, b in zip(r["messages"], o["messages"], strict=True)
    )
    assert changed <= sum(kinds.values()) and changed > 0.8 * sum(kinds.values())
    assert all("mediocre" not in r for r in sft)  # the default share is 0
    by_kind = {k: 0 for k in kinds}
    for r, o in zip(noisy, sft, strict=True):
        for m, orig in zip(r["messages"], o["messages"], strict=True):
            if m["content"] != orig["content"]:
                lang_changed = bool(re.search("[а-яё]", m["content"], re.I)) != bool(
                    re.search("[а-яё]", orig["content"], re.I)
                )
                by_kind["wrong_language"] += lang_changed
    assert by_kind["wrong_language"] >= kinds["wrong_language"]  # English for Russian, and back


def test_preference_prompts_can_have_their_own_mixture(world, cfg):
    own = cfg.model_copy(
        update={"preference_family_weights": {"reasoning": 1.0}, "preference_share_multi_turn": 1.0}
    )
    prompts = generate_preference_prompts(world, own, SEED)
    assert {p["category"] for p in prompts} == {"reasoning"}
    assert all(len(p["messages"]) > 2 for p in prompts if p["messages"][0]["role"] != "system")
