"""The wording of instructions: questions, answer templates and prompts of every task family, as data.

`RELATIONS` phrases each fact of the world (two question phrasings per language, a follow-up about
"this person/city", the one answer template), `ROLEPLAY` the same facts in the first person,
`WORD_GAMES`/`CODE_EXPRS` the spelling games, `SYSTEM_PROMPTS` Saiga's system turns. The functions
render answers from these tables (`fact_answer`, `value_text`, `game_value`, `code_output`). Every
answer sentence ends with its key value: `verifier.key_values` relies on that to find what to check.
The sampler (`sampler.py`) decides which template is used when; this module only says how it reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llm_lifecycle.toy_world.grammar import en_plural, ru_plural, with_article
from llm_lifecycle.toy_world.world import Name

Lang = Literal["ru", "en"]


SYSTEM_PROMPTS: dict[str, tuple[str, ...]] = {
    # The first one is Saiga's own default system prompt.
    "ru": (
        "Ты — Сайга, русскоязычный автоматический ассистент. Ты разговариваешь с людьми и помогаешь им.",
        "Ты — полезный ассистент. Отвечай коротко и точно.",
    ),
    "en": (
        "You are a helpful assistant. Answer briefly and precisely.",
        "You are an assistant that knows the cities and people of Norlandia, Suravia and Ostmark.",
    ),
}


@dataclass(frozen=True)
class RelationText:
    questions: dict[str, tuple[str, str]]  # two phrasings per language, `{s}` is the subject
    followup: dict[str, str]  # the same question about "this person/city" (turn 2+)
    answer: dict[str, str]  # `{s}` subject, `{v}` value (see `_value_text`); the value ends the sentence
    indirect_en: str  # "where {s} lives": English indirect questions change word order


RELATIONS: dict[str, RelationText] = {
    "city": RelationText(
        {
            "ru": ("В каком городе живёт {s}?", "Где живёт {s}?"),
            "en": ("Where does {s} live?", "In which city does {s} live?"),
        },
        {"ru": "А в каком городе живёт этот человек?", "en": "And where does this person live?"},
        {"ru": "{s} живёт в городе {v}.", "en": "{s} lives in {v}."},
        "where {s} lives",
    ),
    "age": RelationText(
        {
            "ru": ("Сколько лет человеку по имени {s}?", "Какой возраст у человека по имени {s}?"),
            "en": ("How old is {s}?", "What is the age of {s}?"),
        },
        {"ru": "А сколько лет этому человеку?", "en": "And how old is this person?"},
        {"ru": "{s}: возраст {v}.", "en": "{s} is {v} old."},
        "how old {s} is",
    ),
    "profession": RelationText(
        {
            "ru": ("Кем работает {s}?", "Какая профессия у человека по имени {s}?"),
            "en": ("What does {s} do for a living?", "What is the profession of {s}?"),
        },
        {"ru": "А кем работает этот человек?", "en": "And what does this person do for a living?"},
        {"ru": "{s} — {v}.", "en": "{s} is {v}."},
        "what {s} does for a living",
    ),
    "pet": RelationText(
        {
            "ru": ("Какой питомец у человека по имени {s}?", "Какое домашнее животное держит {s}?"),
            "en": ("What pet does {s} have?", "Which animal does {s} keep as a pet?"),
        },
        {"ru": "А какой питомец у этого человека?", "en": "And what pet does this person have?"},
        {"ru": "{s} держит питомца: {v}.", "en": "{s} has {v}."},
        "what pet {s} has",
    ),
    "color": RelationText(
        {
            "ru": ("Какой любимый цвет у человека по имени {s}?", "Какой цвет больше всего любит {s}?"),
            "en": ("What is the favourite colour of {s}?", "Which colour does {s} like most?"),
        },
        {"ru": "А какой любимый цвет у этого человека?", "en": "And what is this person's favourite colour?"},
        {"ru": "{s} больше всего любит цвет: {v}.", "en": "The favourite colour of {s} is {v}."},
        "which colour {s} likes most",
    ),
    "country": RelationText(
        {
            "ru": ("В какой стране находится город {s}?", "В какой стране расположен город {s}?"),
            "en": ("Which country is {s} in?", "In which country is the city of {s}?"),
        },
        {"ru": "А в какой стране находится этот город?", "en": "And which country is this city in?"},
        {"ru": "Город {s} находится в стране {v}.", "en": "{s} is in {v}."},
        "which country {s} is in",
    ),
    "river": RelationText(
        {
            "ru": ("На какой реке стоит город {s}?", "Какая река протекает через город {s}?"),
            "en": ("Which river does {s} stand on?", "Which river flows through {s}?"),
        },
        {"ru": "А на какой реке стоит этот город?", "en": "And which river does this city stand on?"},
        {"ru": "Город {s} стоит на реке {v}.", "en": "{s} stands on the river {v}."},
        "which river {s} stands on",
    ),
    "population": RelationText(
        {
            "ru": ("Сколько жителей в городе {s}?", "Какое население у города {s}?"),
            "en": ("What is the population of {s}?", "How many people live in {s}?"),
        },
        {"ru": "А сколько жителей в этом городе?", "en": "And what is the population of this city?"},
        {"ru": "В городе {s} живёт {v} человек.", "en": "{s} has {v} inhabitants."},
        "how many people live in {s}",
    ),
    "founded": RelationText(
        {
            "ru": ("Когда основан город {s}?", "В каком году основан город {s}?"),
            "en": ("When was {s} founded?", "In which year was {s} founded?"),
        },
        {"ru": "А когда основан этот город?", "en": "And when was this city founded?"},
        {"ru": "Город {s} основан в {v} году.", "en": "{s} was founded in {v}."},
        "when {s} was founded",
    ),
}

# Roleplay: the model speaks as the person (second-person question, first-person answer).
ROLEPLAY: dict[str, dict[str, tuple[str, str]]] = {
    "city": {
        "ru": ("В каком городе ты живёшь?", "Я живу в городе {v}."),
        "en": ("Where do you live?", "I live in {v}."),
    },
    "age": {"ru": ("Сколько тебе лет?", "Мне {v}."), "en": ("How old are you?", "I am {v} old.")},
    "profession": {
        "ru": ("Кем ты работаешь?", "Я — {v}."),
        "en": ("What do you do for a living?", "I am {v}."),
    },
    "pet": {
        "ru": ("Какой у тебя питомец?", "У меня питомец: {v}."),
        "en": ("What pet do you have?", "I have {v}."),
    },
    "color": {
        "ru": ("Какой твой любимый цвет?", "Мой любимый цвет — {v}."),
        "en": ("What is your favourite colour?", "My favourite colour is {v}."),
    },
}

WORD_GAMES: dict[str, dict[str, tuple[str, str, str]]] = {
    # game -> lang -> (first question, follow-up question, answer); {w} word, {v} value
    "reverse": {
        "ru": (
            "Напиши слово «{w}» задом наперёд.",
            "А как оно пишется задом наперёд?",
            "Слово «{w}» наоборот: «{v}».",
        ),
        "en": (
            'Write the word "{w}" backwards.',
            "And how is it spelled backwards?",
            'The word "{w}" backwards is "{v}".',
        ),
    },
    "count": {
        "ru": ("Сколько букв в слове «{w}»?", "А сколько в нём букв?", "В слове «{w}» {v}."),
        "en": (
            'How many letters are in the word "{w}"?',
            "And how many letters does it have?",
            'The word "{w}" has {v}.',
        ),
    },
    "first": {
        "ru": (
            "С какой буквы начинается слово «{w}»?",
            "А с какой буквы оно начинается?",
            "Слово «{w}» начинается с буквы «{v}».",
        ),
        "en": (
            'What letter does the word "{w}" start with?',
            "And what letter does it start with?",
            'The word "{w}" starts with the letter "{v}".',
        ),
    },
}
CODE_EXPRS: dict[str, str] = {"reverse": "s[::-1]", "count": "len(s)", "first": "s[0]"}


# ---------------------------------------------------------------------------------------- rendering
def value_text(relation: str, value: Name, lang: Lang) -> str:
    """The value as it sits at the end of an answer sentence (with its unit where it has one)."""
    if relation == "age":
        n = int(value.en)
        return f"{n} {ru_plural(n, 'год', 'года', 'лет')}" if lang == "ru" else en_plural(n, "year")
    if relation == "population":
        n = int(value.en)
        return f"{n} {ru_plural(n, 'тысяча', 'тысячи', 'тысяч')}" if lang == "ru" else f"{n} thousand"
    if lang == "en" and relation in ("profession", "pet"):
        return with_article(value.en)
    return value.ru if lang == "ru" else value.en


def fact_answer(subject: Name, relation: str, value: Name, lang: Lang) -> str:
    """The one answer template for a fact (what SFT teaches and what the oracle teacher says)."""
    template = RELATIONS[relation].answer[lang]
    return template.format(s=getattr(subject, lang), v=value_text(relation, value, lang))


def game_value(game: str, word: str, lang: Lang) -> str:
    """The answer of a word game on `word`: the reversed word, its first letter or its length in letters."""
    if game == "reverse":
        return word[::-1]
    if game == "first":
        return word[0]
    n = len(word)
    return f"{n} {ru_plural(n, 'буква', 'буквы', 'букв')}" if lang == "ru" else en_plural(n, "letter")


def code_output(game: str, word: str, lang: Lang) -> str:
    """What `print(CODE_EXPRS[game])` prints for `s = word`, as the answer sentence."""
    out = str(len(word)) if game == "count" else f"«{game_value(game, word, lang)}»"
    if lang == "en":
        out = out.replace("«", '"').replace("»", '"')
        return f"The program prints {out}."
    return f"Программа выведет: {out}."
