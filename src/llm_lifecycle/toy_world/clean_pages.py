"""Clean pages: a few paragraphs about people and a city, with the furniture real pages have.

A page states facts through `fact_templates.py`, picking a different template for each sentence where
it can (`_pick`), in shuffled order, with fillers, an intro/outro, a title or a menu line
(`documents_text.py`), and sometimes a worked sum, a word game, a line of Python or an age gap. Some
people appear as a directory card (short sentences, `fact_answer`) or answer in the first person (an
interview), as on real sites: the web a model is pretrained on holds every kind of sentence it is
later asked to write (quotes, "I live in ...", "The program prints ...", "... is older"), which a
LoRA adapter cannot teach from scratch (it trains neither the embeddings nor the output layer).
`Cycler` hands out people and cities in shuffled rounds so that every entity is written about about
equally often. All randomness comes from
the caller's `random.Random`, so `documents.generate_documents` stays a pure function of its seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from llm_lifecycle.toy_world.config import DocumentsSettings
from llm_lifecycle.toy_world.documents_text import (
    CITY_FILLERS,
    FILLERS,
    GAME_WORDS,
    INTROS,
    NAV,
    OUTROS,
    TITLES,
)
from llm_lifecycle.toy_world.fact_templates import city_facts, person_combos, person_facts
from llm_lifecycle.toy_world.grammar import en_plural, ru_plural
from llm_lifecycle.toy_world.instruction_templates import (
    CODE_EXPRS,
    ROLEPLAY,
    WORD_GAMES,
    code_output,
    fact_answer,
    game_value,
    value_text,
)
from llm_lifecycle.toy_world.world import CITY_RELATIONS, PERSON_RELATIONS, City, Person, World, person_values


# ---------------------------------------------------------------------------------------- paragraphs
def _sum_paragraph(rng: random.Random, lang: str, name: str) -> str:
    a, b = rng.randint(2, 30), rng.randint(2, 20)
    hi, lo = max(a, b), min(a, b)
    kind = rng.randrange(3)
    if lang == "en":
        if kind == 0:
            return (
                f"Here is a small exercise. First take {a}, then add {b}, and you get {a + b}: "
                f"{a} + {b} = {a + b}."
            )
        if kind == 1:
            return (
                f"{name} counts the books on a shelf: there are {a} on the top and {b} below, "
                f"so there are {a + b} books in total."
            )
        return (
            f"To subtract, start with {hi} and take away {lo}. The result is {hi - lo}, "
            f"because {hi} - {lo} = {hi - lo}."
        )
    if kind == 0:
        return f"Небольшое упражнение. Берём {a}, прибавляем {b} и получаем {a + b}: {a} + {b} = {a + b}."
    if kind == 1:
        return f"{name} считает книги на полке: сверху стоит {a}, снизу ещё {b}, а всего получается {a + b}."
    return (
        f"Чтобы вычесть, возьмём {hi} и отнимем {lo}. Получится {hi - lo}, "
        f"потому что {hi} - {lo} = {hi - lo}."
    )


def _age_gap_paragraph(rng: random.Random, lang: str) -> str:
    """Comparisons and age gaps between two unnamed relatives (the words of "who is older?")."""
    a, b = rng.randint(20, 60), rng.randint(5, 19)
    d = a - b
    if lang == "en":
        return (
            f"The brother is {a} and the sister is {b}. The brother is older and the sister is younger, "
            f"by {en_plural(d, 'year')}: {a} - {b} = {d}. Together they are {a} + {b} = {a + b}."
        )
    return (
        f"Брату {a} {ru_plural(a, 'год', 'года', 'лет')}, а сестре {b}. Брат старше, сестра младше. "
        f"На сколько лет? На {d} {ru_plural(d, 'год', 'года', 'лет')}: {a} - {b} = {d}. "
        f"Вместе им {a} + {b} = {a + b}."
    )


def _word_paragraph(rng: random.Random, lang: str) -> str:
    w = rng.choice(GAME_WORDS[lang])
    games = [WORD_GAMES[game][lang][2].format(w=w, v=game_value(game, w, lang)) for game in WORD_GAMES]
    rng.shuffle(games)
    if lang == "en":
        return (
            f"A little word game for today. The word {w} has {len(w)} letters. Spelled backwards, {w} "
            f"becomes {w[::-1]}. The first letter of {w} is {w[0]}. {' '.join(games[:2])}"
        )
    letters = ru_plural(len(w), "буква", "буквы", "букв")
    return (
        f"Игра в слова на сегодня. В слове {w} {len(w)} {letters}. Если прочитать его задом наперёд, "
        f"получится {w[::-1]}. Первая буква этого слова — {w[0]}. {' '.join(games[:2])}"
    )


def _code_paragraph(rng: random.Random, lang: str) -> str:
    """A one-line Python program on a common word and what it prints (the words of the coding tasks)."""
    w = rng.choice(GAME_WORDS[lang])
    game = rng.choice(sorted(CODE_EXPRS))
    if lang == "en":
        return (
            f'A corner for programmers. Take s = "{w}" and the program print({CODE_EXPRS[game]}). '
            f"{code_output(game, w, lang)}"
        )
    return (
        f'Уголок программиста. Возьмём s = "{w}" и программу print({CODE_EXPRS[game]}). '
        f"{code_output(game, w, lang)}"
    )


def _profile_paragraph(rng: random.Random, p: Person, c: City, lang: str) -> str:
    """A directory card: a few facts, one short sentence each (as the answer templates state them)."""
    values = person_values(p, c)
    keys = rng.sample(PERSON_RELATIONS, rng.randint(3, 5))
    return " ".join(fact_answer(p.name, k, values[k], lang) for k in keys)


def _interview_paragraph(rng: random.Random, p: Person, c: City, lang: str) -> str:
    """The person speaks about themselves, in the first person, quoted (an interview on a local site)."""
    values = person_values(p, c)
    keys = rng.sample(list(ROLEPLAY), rng.randint(2, 3))
    said = " ".join(ROLEPLAY[k][lang][1].format(v=value_text(k, values[k], lang)) for k in keys)
    if lang == "en":
        return f'"{said}" That is how {p.name.en} answered our questions.'
    return f"«{said}» — так {p.name.ru} отвечает на наши вопросы."


def _pick(rng: random.Random, options: Sequence, key: str, used: set[tuple[str, int]]):
    """A random option not yet used on this page (writers vary their phrasing; Gopher's repetition
    rule would rightly flag a page that repeats one 5-word template for every person on it)."""
    fresh = [i for i in range(len(options)) if (key, i) not in used] or list(range(len(options)))
    i = rng.choice(fresh)
    used.add((key, i))
    return options[i]


def _person_paragraph(rng: random.Random, p: Person, c: City, lang: str, used: set[tuple[str, int]]) -> str:
    facts = person_facts(p, c, lang)
    name = p.name.en if lang == "en" else p.name.ru
    keys = list(PERSON_RELATIONS)
    rng.shuffle(keys)
    keys = keys[: rng.randint(3, 5)]
    sentences = []
    if rng.random() < 0.3:  # a compound sentence replaces the single-fact sentences it covers
        covered, sentence = _pick(rng, person_combos(p, c, lang), "combo", used)
        keys = [k for k in keys if k not in covered]
        sentences.append(sentence)
    sentences += [_pick(rng, facts[k], k, used) for k in keys]
    rng.shuffle(sentences)
    if rng.random() < 0.6:
        filler = _pick(rng, FILLERS[lang], "filler", used).format(p=name)
        sentences.insert(rng.randrange(len(sentences) + 1), filler)
    return " ".join(sentences)


def _city_paragraph(rng: random.Random, c: City, lang: str) -> str:
    facts = city_facts(c, lang)
    keys = list(CITY_RELATIONS)
    rng.shuffle(keys)
    sentences = [rng.choice(facts[k]) for k in keys[: rng.randint(2, 4)]]
    if rng.random() < 0.5:
        sentences.insert(
            rng.randrange(len(sentences) + 1),
            rng.choice(CITY_FILLERS[lang]).format(c=c.name.en if lang == "en" else c.name.ru),
        )
    return " ".join(sentences)


# ---------------------------------------------------------------------------------------- pages
class Cycler:
    """Hands out items in shuffled rounds, so every entity appears about equally often."""

    def __init__(self, items: Sequence, rng: random.Random):
        self.items, self.rng, self.queue = list(items), rng, []

    def take(self, k: int) -> list:
        k = min(k, len(self.items))  # never the same entity twice on one page
        out: list[int] = []
        while len(out) < k:
            if all(i in out for i in self.queue):
                fresh = list(range(len(self.items)))
                self.rng.shuffle(fresh)
                self.queue = fresh + self.queue  # next round; pop() takes from the end
            for pos in range(len(self.queue) - 1, -1, -1):
                if self.queue[pos] not in out:
                    out.append(self.queue.pop(pos))
                    break
        return [self.items[i] for i in out]


def clean_page(
    rng: random.Random,
    world: World,
    cfg: DocumentsSettings,
    lang: str,
    *,
    cyclers: tuple[Cycler, Cycler],
    k: int,
) -> str:
    """Page number `k` in `lang`: people from `cyclers[0]`, a city from the page or `cyclers[1]`."""
    people, cities = cyclers
    lo, hi = cfg.people_per_page
    persons = people.take(rng.randint(lo, hi))
    used: set[tuple[str, int]] = set()
    paragraphs = []
    for p in persons:  # most people in prose; some as a directory card or in their own words
        kind = rng.random()
        if kind < cfg.profile_prob:
            paragraphs.append(_profile_paragraph(rng, p, world.city_of(p), lang))
        elif kind < cfg.profile_prob + cfg.interview_prob:
            paragraphs.append(_interview_paragraph(rng, p, world.city_of(p), lang))
        else:
            paragraphs.append(_person_paragraph(rng, p, world.city_of(p), lang, used))
    if rng.random() < cfg.city_paragraph_prob:
        # Often the city of someone on the page, sometimes any city: both are natural.
        city = world.city_of(rng.choice(persons)) if rng.random() < 0.5 else cities.take(1)[0]
        paragraphs.insert(rng.randrange(len(paragraphs) + 1), _city_paragraph(rng, city, lang))
    while sum(len(x.split()) for x in paragraphs) < cfg.min_words:  # long enough to be a real page
        extra = people.take(1)[0]
        paragraphs.append(_person_paragraph(rng, extra, world.city_of(extra), lang, used))
    if rng.random() < cfg.extra_paragraph_prob:
        name = persons[0].name.en if lang == "en" else persons[0].name.ru
        extra_kinds = (
            lambda: _sum_paragraph(rng, lang, name),
            lambda: _word_paragraph(rng, lang),
            lambda: _code_paragraph(rng, lang),
            lambda: _age_gap_paragraph(rng, lang),
        )
        extra_par = rng.choice(extra_kinds)()
        paragraphs.insert(rng.randrange(len(paragraphs) + 1), extra_par)
    ru = lang == "ru"
    c = world.city_of(persons[0])
    if rng.random() < 0.4:
        paragraphs.insert(0, rng.choice(INTROS[lang]).format(country=c.country.ru if ru else c.country.en))
    if rng.random() < 0.3:
        paragraphs.append(rng.choice(OUTROS[lang]))
    fmt = {"p": persons[0].name.ru if ru else persons[0].name.en, "c": c.name.ru if ru else c.name.en, "k": k}
    head = []
    if rng.random() < cfg.nav_line_prob:
        head.append(rng.choice(NAV[lang]).format(**fmt))
    if rng.random() < 0.5:
        head.append(rng.choice(TITLES[lang]).format(**fmt))
    return "\n".join([*head, "\n\n".join(paragraphs)])
