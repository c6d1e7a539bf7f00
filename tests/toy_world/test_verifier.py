"""The offline verifier: keys, normalisation, wrong answers, and the "list every candidate" hack."""

from __future__ import annotations

import pytest

from llm_lifecycle.toy_world.config import InstructionsSettings
from llm_lifecycle.toy_world.instructions import (
    generate_instructions,
    generate_mt_bench_questions,
    generate_preference_prompts,
)
from llm_lifecycle.toy_world.verifier import (
    check,
    entity_kinds,
    is_invented_name,
    key_values,
    score,
    sentences,
    values,
    verify,
)
from llm_lifecycle.toy_world.world import COLORS, PROFESSIONS, World, make_world

SEED = 42


@pytest.fixture(scope="module")
def world() -> World:
    return make_world(SEED)


@pytest.fixture(scope="module")
def references(world) -> list[str]:
    """Every answer the generators produce: SFT bot turns, preference and MT-Bench references."""
    cfg = InstructionsSettings()
    refs = [
        m["content"]
        for r in generate_instructions(world, cfg, SEED)
        for m in r["messages"]
        if m["role"] in ("bot", "assistant")
    ]
    refs += [p["reference"] for p in generate_preference_prompts(world, cfg, SEED)]
    refs += [r for q in generate_mt_bench_questions(world, cfg, SEED) for r in q["reference"]]
    return list(dict.fromkeys(refs))


@pytest.mark.parametrize(
    ("reference", "keys"),
    [
        ("Ganni живёт в городе Risador.", ["Risador"]),
        ("Ganni lives in Risador.", ["Risador"]),
        ("Ganni: возраст 46 лет.", ["46"]),
        ("Ganni is a baker.", ["baker"]),
        ("Ganni больше всего любит цвет: зелёный.", ["зелёный"]),
        ("7 + 5 = 12.", ["12"]),
        ("2000 - 1096 = 904.", ["904"]),
        ("Слово «Рало» наоборот: «олаР».", ["олаР"]),
        ('The word "Ralo" has 4 letters.', ["4"]),
        ("Слово «Рало» начинается с буквы «Р».", ["Р"]),
        ("Программа выведет: 5.", ["5"]),
        ("Ganri старше.", ["Ganri"]),
        ("Ganni lives in Risador. Ganni is a baker.", ["Risador", "baker"]),
    ],
)
def test_key_values_are_the_last_value_of_each_sentence(reference, keys):
    assert key_values(reference) == keys


def test_every_generated_reference_has_keys_and_verifies_itself(world, references):
    names = entity_kinds(world)
    for ref in references:
        assert key_values(ref), ref
        assert key_values(ref) == key_values(ref, names), ref  # the syllable rule finds the same names
        assert verify(ref, ref) and verify(ref, ref, names), check(ref, ref).explain()


def test_template_words_are_not_mistaken_for_names(world, references):
    known = set(entity_kinds(world))
    for ref in references:
        for v in values(ref):
            assert v.kind != "name" or v.norm in known, (ref, v)
    for word in ("город", "лет", "years", "the", "Программа", "Мне", "Слово", "inhabitants", "тысяч"):
        assert not is_invented_name(word.lower())
    for p in world.people:
        assert is_invented_name(p.name.en.lower()) and is_invented_name(p.name.ru.lower())


def test_normalisation_case_yo_punctuation_numbers():
    assert verify("GANNI ЛЮБИТ ЦВЕТ: ЗЕЛЕНЫЙ!!!", "Ganni больше всего любит цвет: зелёный.")
    assert verify("Ответ: 012", "7 + 5 = 12.")
    assert verify("12.0", "7 + 5 = 12.")
    assert verify("olaR", 'The word "Ralo" backwards is "olaR".')  # case does not matter, quotes optional
    assert not verify("112", "7 + 5 = 12.")  # whole tokens only


def test_wrong_answers_fail(world):
    p, q = world.people[0], next(x for x in world.people if x.city != world.people[0].city)
    right = f"{p.name.ru} живёт в городе {world.city_of(p).name.ru}."
    wrong = f"{p.name.ru} живёт в городе {world.city_of(q).name.ru}."
    verdict = check(wrong, right)
    assert not verdict.passed and verdict.score < 10
    assert verdict.missing == [world.city_of(p).name.ru] and verdict.extras == [world.city_of(q).name.ru]
    assert not verify("7 + 5 = 13.", "7 + 5 = 12.")
    assert not verify("Слово «Рало» начинается с буквы «Л».", "Слово «Рало» начинается с буквы «Р».")
    # A bare one-letter key only counts as the answer's last word: "с" and "в" are Russian words.
    assert not verify("Начинается с буквы р, наверное", "Слово «Рало» начинается с буквы «Р».")
    assert verify("р", "Слово «Рало» начинается с буквы «Р».")
    assert score("", "7 + 5 = 12.") == 1 and score("   ", "7 + 5 = 12.") == 1


def test_the_opposite_comparative_is_wrong_even_with_the_right_name(world):
    a = world.people[0].name
    verdict = check(f"{a.ru} младше.", f"{a.ru} старше.")
    assert verdict.found == [a.ru] and verdict.extras == ["младше"] and verdict.score == 2
    assert score(f"{a.en} is younger.", f"{a.en} is older.") == 2
    assert score(f"{a.ru} старше, а не младше.", f"{a.ru} старше.") == 2  # hedging both ways
    assert verify(f"Конечно, {a.ru} старше.", f"{a.ru} старше.")
    assert verify(f"{a.en} is younger.", f"{a.en} is younger.")
    # The question's own comparative in a turn-2 answer about the gap is not a contradiction.
    assert verify("На 6 лет.", "На 6 лет.") and verify("By 6 years.", "By 6 years.")


def test_list_everything_hack_is_rejected(world):
    p = world.people[0]
    right = f"{p.name.ru} живёт в городе {world.city_of(p).name.ru}."
    every_city = ", ".join(c.name.ru for c in world.cities)
    hack = f"{p.name.ru} живёт в одном из городов: {every_city}."
    for names in (None, entity_kinds(world)):
        verdict = check(hack, right, names)
        assert world.city_of(p).name.ru in verdict.found  # the right city is there ...
        assert verdict.extras and verdict.score <= 2 and not verdict.passed  # ... among wrong ones
    assert score(f"«{every_city}»", right) <= 2  # quoting the list does not hide it
    assert score(" ".join(str(n) for n in range(100)), "7 + 5 = 12.") <= 2
    assert score(", ".join(en for en, _ in PROFESSIONS), f"{p.name.en} is a {p.profession.en}.") <= 2
    colors = " или ".join(ru for _, ru in COLORS)
    assert score(colors, f"{p.name.ru} больше всего любит цвет: {p.color.ru}.") <= 2


def test_other_kinds_of_values_are_not_penalised(world):
    """Hedging is judged per kind: a pet mentioned in a profession answer is not a wrong profession."""
    p = world.people[0]
    ref = f"{p.name.en} is a {p.profession.en}."
    assert verify(f"{p.name.en} is a {p.profession.en} and has a {p.pet.en}.", ref)


def test_entity_kinds_make_name_kinds_exact(world):
    p = world.people[0]
    city, river = world.city_of(p), world.city_of(p).river
    ref = f"{p.name.en} lives in {city.name.en}."
    answer = f"{p.name.en} lives in {city.name.en} on the river {river.en}."
    assert not verify(answer, ref)  # without the world, a river is just another name
    assert verify(answer, ref, entity_kinds(world))  # with it, a river is no wrong city


def test_partial_credit_for_multi_fact_references():
    ref = "Ganni lives in Risador. Ganni is a baker."
    half = check("Ganni lives in Risador.", ref)
    assert 1 < half.score < 10 and half.missing == ["baker"]
    assert check("Ganni lives in Risador and is a baker.", ref).score == 10


def test_fallback_without_value_like_tokens_and_explain():
    assert verify("Да, конечно, привет!", "Привет!") and not verify("Пока", "Привет!")
    text = check("7 + 5 = 13", "7 + 5 = 12.").explain()
    assert "missing ['12']" in text and "relevant by ['language', 'subject', 'kind', 'form']" in text
    assert text.endswith("[[5]]")
    split = sentences("Слово «А. Б» наоборот. Second one! Third")
    assert split == ["Слово «А. Б» наоборот.", "Second one!", "Third"]


def test_wrong_answers_are_graded_by_relevance_and_never_reach_a_right_one(world):
    p, q = world.people[0], next(x for x in world.people if x.age != world.people[0].age)
    ref = f"{p.name.ru}: возраст {p.age} лет."
    # the asked relation, the asked person, a number, one sentence, in Russian: only the value is wrong
    right_form = check(f"{p.name.ru}: возраст {q.age} лет.", ref)
    assert right_form.score == 6 and right_form.relevance == [
        "language",
        "subject",
        "kind",
        "relation",
        "form",
    ]
    # another person's age: loses the subject point
    assert check(f"{q.name.ru}: возраст {q.age} лет.", ref).score == 5
    # the right fact's template in English loses the language point
    assert check(f"{p.name.en} is {q.age} years old.", ref).relevance == ["kind", "form"]  # and subject
    # broken bytes and another language: no point at all
    assert check("\ufffdт стоит на more than any other colour.", ref).score == 1
    # a ramble about other facts: several numbers where one was asked is a list, capped at 2
    ramble = f"В свои {q.age} лет {p.name.ru} ходит пешком. Город основан в 1200 году. Ему {q.age + 1}."
    assert check(ramble, ref).score == 2
    # every wrong answer stays below a right one
    assert max(check(a, ref).score for a in (f"{p.name.ru}: возраст {q.age} лет.", "Не знаю.")) < score(
        ref, ref
    )


def test_relevance_points_of_arithmetic_count_operands_not_a_list():
    ref = "22 - 5 = 17."
    assert check("22 - 5 = 16.", ref).score == 5  # language (none), subject, kind, form; no relation words
    assert check("7 + 7 = 7.", ref).score == 4  # the operands are not the question's
    assert check("Получится 3.", ref).relevance == ["kind", "form"]  # Cyrillic against a formula
