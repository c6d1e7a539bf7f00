"""Crawl noise: the page kinds a web crawl brings that the `data_filtering` heuristics must catch.

One function per kind of `config.NOISE_KINDS` (exact duplicates need none): navigation/cookie/legal
`boilerplate`, `gibberish` and mojibake, `too_short` pages, `symbol_heavy` soup, `repeated_lines`,
SEO `repeated_ngrams` spam, `foreign_language` pages about the same world (German, French, Spanish,
Ukrainian: the topic alone does not give them away) and `near_copy` edits of a clean page. Each is
modelled on what the Gopher, C4 and FineWeb heuristics target (Rae et al. 2021, Raffel et al. 2020,
Penedo et al. 2024). `fmt` arguments carry the page's `{p}`, `{c}`, `{country}`, `{pet}`, `{prof}`,
`{site}` for the templates of `documents_text.py`; all randomness comes from the caller's `rng`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from llm_lifecycle.toy_world.documents_text import (
    BOILERPLATE,
    FOREIGN_WORDS,
    GAME_WORDS,
    KEYBOARD_ROWS,
    SEO,
    SYMBOLS,
)
from llm_lifecycle.toy_world.fact_templates import person_facts
from llm_lifecycle.toy_world.world import PERSON_RELATIONS, World


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def gibberish(rng: random.Random, lang: str) -> str:
    """Random letter strings, keyboard mash, or Russian UTF-8 read as Latin-1 (mojibake)."""
    style = rng.randrange(3)
    if style == 0:  # random letter strings with sentence punctuation
        alphabet = "abcdefghijklmnopqrstuvwxyz" if lang == "en" else "абвгдежзийклмнопрстуфхцчшщыэюя"
        words = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(2, 11)))
            for _ in range(rng.randint(60, 160))
        ]
    elif style == 1:  # keyboard mash
        words = []
        for _ in range(rng.randint(60, 160)):
            row = rng.choice(KEYBOARD_ROWS)
            i = rng.randrange(len(row) - 2)
            words.append(row[i : i + rng.randint(2, 7)])
    else:  # mojibake: Russian UTF-8 read as Latin-1, a classic crawl failure
        src = " ".join(rng.choice(GAME_WORDS["ru"]) for _ in range(rng.randint(50, 120)))
        return src.encode("utf-8").decode("latin-1", errors="replace")
    lines, i = [], 0
    while i < len(words):
        n = rng.randint(6, 18)
        lines.append(_cap(" ".join(words[i : i + n])) + rng.choice([".", ".", "!", "?", ""]))
        i += n
    return "\n".join(lines)


def symbol_heavy(rng: random.Random, lang: str, fmt: dict) -> str:
    """Lines of stars, arrows and bars between a few SEO words."""
    base = rng.choice(SEO[lang]).format(**fmt).split() + [fmt["c"], fmt["p"]]
    lines = []
    for _ in range(rng.randint(8, 20)):
        parts = []
        for _ in range(rng.randint(4, 10)):
            parts.append(rng.choice(SYMBOLS) * rng.randint(1, 3) if rng.random() < 0.55 else rng.choice(base))
        lines.append(" ".join(parts))
    return "\n".join(lines)


def repeated_lines(rng: random.Random, world: World, lang: str) -> str:
    """One line of facts repeated 8-20 times among a few others."""
    p = rng.choice(world.people)
    facts = person_facts(p, world.city_of(p), lang)
    line = " ".join(rng.choice(facts[k]) for k in ("city", "profession"))
    others = [rng.choice(facts[k]) for k in ("age", "pet", "color")]
    lines = [line] * rng.randint(8, 20) + others[: rng.randint(0, 3)]
    rng.shuffle(lines)
    return "\n".join(lines)


def repeated_ngrams(rng: random.Random, lang: str, fmt: dict) -> str:
    """SEO spam: three phrases glued together over and over."""
    phrases = [s.format(**fmt) for s in rng.sample(SEO[lang], 3)]
    glue = {"en": ["and", "with", "for", "the", "best", "now"], "ru": ["и", "с", "для", "лучшие", "сейчас"]}[
        lang
    ]
    sentences = []
    for _ in range(rng.randint(10, 25)):
        words = []
        for _ in range(rng.randint(2, 4)):
            words += rng.choice(phrases).split() + [rng.choice(glue)]
        sentences.append(_cap(" ".join(words)) + ".")
    return "\n\n".join(" ".join(sentences[i : i + 4]) for i in range(0, len(sentences), 4))


def foreign_language(rng: random.Random, world: World, lang: str) -> str:
    """A page about the world's people and a city in `lang`: "de", "fr", "es" or "uk"."""
    t = FOREIGN_WORDS[lang]
    persons = rng.sample(world.people, k=min(len(world.people), rng.randint(2, 3)))
    paras = []
    for p in persons:
        c = world.city_of(p)
        n, cn = (p.name.ru, c.name.ru) if lang == "uk" else (p.name.en, c.name.en)
        prof, pet, color, age = t[p.profession.en], t[p.pet.en], t[p.color.en], p.age
        s = {
            "de": [
                f"{n} wohnt in der Stadt {cn}.",
                f"{n} ist {age} Jahre alt.",
                f"{n} arbeitet als {prof}.",
                f"{n} hat ein Haustier: {pet}.",
                f"Die Lieblingsfarbe von {n} ist {color}.",
                f"Jeden Morgen trinkt {n} einen Kaffee und liest die Zeitung.",
            ],
            "fr": [
                f"{n} habite dans la ville de {cn}.",
                f"{n} a {age} ans.",
                f"{n} travaille comme {prof}.",
                f"{n} a un animal de compagnie : {pet}.",
                f"La couleur préférée de {n} est le {color}.",
                f"Chaque matin, {n} boit un café et lit le journal.",
            ],
            "es": [
                f"{n} vive en la ciudad de {cn}.",
                f"{n} tiene {age} años.",
                f"{n} trabaja como {prof}.",
                f"{n} tiene una mascota: {pet}.",
                f"El color favorito de {n} es el {color}.",
                f"Cada mañana, {n} toma un café y lee el periódico.",
            ],
            "uk": [
                f"{n} живе в місті {cn}.",
                f"У свої {age} років {n} щодня ходить пішки.",
                f"За професією {n} — {prof}.",
                f"{n} має домашнього улюбленця: це {pet}.",
                f"{n} найбільше любить {color} колір.",
                f"Щоранку {n} п'є каву і читає свіжі новини.",
            ],
        }[lang]
        rng.shuffle(s)
        paras.append(" ".join(s[: rng.randint(4, 6)]))
    c = rng.choice(world.cities)
    names = (c.name, c.country, c.river)
    cn, country, river = (x.ru if lang == "uk" else x.en for x in names)
    paras.append(
        {
            "de": f"{cn} ist eine Stadt in {country}. Durch {cn} fließt der Fluss {river}. "
            f"In {cn} leben etwa {c.population} tausend Menschen, "
            f"und die Stadt wurde im Jahr {c.founded} gegründet.",
            "fr": f"{cn} est une ville de {country}. La rivière {river} traverse {cn}. "
            f"Environ {c.population} mille personnes vivent à {cn}, et la ville a été fondée en {c.founded}.",
            "es": f"{cn} es una ciudad de {country}. El río {river} pasa por {cn}. En {cn} viven unas "
            f"{c.population} mil personas, y la ciudad fue fundada en el año {c.founded}.",
            "uk": f"Місто {cn} розташоване в країні {country}. Через місто {cn} тече річка {river}. "
            f"У місті {cn} живе близько {c.population} тисяч людей, а засноване воно в {c.founded} році.",
        }[lang]
    )
    rng.shuffle(paras)
    return "\n\n".join(paras)


_WS_EDITS: list[Callable[[str], str]] = [
    lambda s: s.replace(". ", ".  ", 2),
    lambda s: s.replace("\n\n", "\n \n", 1),
    lambda s: s.rstrip() + "\n",
    lambda s: s.replace(", ", " , ", 1),
]
_INSERTS = {
    "en": ["really", "also", "indeed", "quite", "today"],
    "ru": ["очень", "также", "действительно", "сегодня"],
}


def near_copy(rng: random.Random, text: str, lang: str) -> str:
    """A copy with a few small edits: words added or dropped, punctuation and whitespace changed."""
    words = text.split(" ")
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(1, len(words))
        if rng.random() < 0.6:
            words.insert(i, rng.choice(_INSERTS[lang]))
        elif len(words) > 20:
            del words[i]
    out = " ".join(words)
    if rng.random() < 0.5:
        out = out.replace(".", "!", 1)
    for edit in rng.sample(_WS_EDITS, rng.randint(1, 2)):
        out = edit(out)
    return out


def too_short(rng: random.Random, world: World, lang: str) -> str:
    """One to three fact sentences about one person: true, but too little to be a page."""
    p = rng.choice(world.people)
    facts = person_facts(p, world.city_of(p), lang)
    keys = rng.sample(list(PERSON_RELATIONS), rng.randint(1, 3))
    return " ".join(rng.choice(facts[k]) for k in keys)


def boilerplate(rng: random.Random, world: World, lang: str, fmt: dict) -> str:
    """Menu, cookie and legal lines, sometimes with one teaser sentence of content."""
    lines = [s.format(**fmt) for s in rng.sample(BOILERPLATE[lang], rng.randint(8, 16))]
    if rng.random() < 0.5:  # a teaser line of real content, as a stripped page often keeps
        p = rng.choice(world.people)
        lines.insert(rng.randrange(len(lines)), rng.choice(person_facts(p, world.city_of(p), lang)["city"]))
    return "\n".join(lines)
