"""The invented world behind the embedded default: people, cities and their facts.

Design: everything a tiny model is later asked about (SFT answers, preference prompts, MT-Bench
references) is a fact of this world, so an offline verifier can check answers exactly. The world is a
pure function of a seed; names are built from syllables that have an exact Cyrillic spelling, so each
entity has a Russian and an English name and facts can be stated in both languages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Latin syllable -> Cyrillic syllable; invented names are concatenations, so transliteration is exact.
# Public because it also defines what an invented name looks like (`verifier.is_invented_name`).
SYLLABLES: dict[str, str] = {
    "ka": "ка",
    "lo": "ло",
    "mi": "ми",
    "ra": "ра",
    "ven": "вен",
    "tor": "тор",
    "sa": "са",
    "ni": "ни",
    "bel": "бел",
    "dor": "дор",
    "ta": "та",
    "ri": "ри",
    "mon": "мон",
    "vel": "вел",
    "zar": "зар",
    "po": "по",
    "li": "ли",
    "ser": "сер",
    "gan": "ган",
    "du": "ду",
}

# (english, russian) pairs. Russian forms are nominative; sentences are written to avoid declension.
PROFESSIONS: list[tuple[str, str]] = [
    ("baker", "пекарь"),
    ("teacher", "учитель"),
    ("doctor", "врач"),
    ("pilot", "пилот"),
    ("painter", "художник"),
    ("engineer", "инженер"),
    ("gardener", "садовник"),
    ("librarian", "библиотекарь"),
]
PETS: list[tuple[str, str]] = [
    ("cat", "кошка"),
    ("dog", "собака"),
    ("parrot", "попугай"),
    ("turtle", "черепаха"),
    ("hamster", "хомяк"),
    ("rabbit", "кролик"),
]
COLORS: list[tuple[str, str]] = [
    ("red", "красный"),
    ("blue", "синий"),
    ("green", "зелёный"),
    ("yellow", "жёлтый"),
    ("white", "белый"),
    ("black", "чёрный"),
]
COUNTRIES: list[tuple[str, str]] = [
    ("Norlandia", "Норландия"),
    ("Suravia", "Суравия"),
    ("Ostmark", "Остмарк"),
]


# The relations of `Fact`s, per kind of subject, in the order `_facts` states them. Every stage that
# asks about facts (page templates, cloze probes, instructions) iterates over these.
PERSON_RELATIONS: tuple[str, ...] = ("city", "age", "profession", "pet", "color")
CITY_RELATIONS: tuple[str, ...] = ("country", "river", "population", "founded")


@dataclass(frozen=True)
class Name:
    en: str
    ru: str


@dataclass(frozen=True)
class City:
    name: Name
    country: Name
    river: Name
    population: int  # thousands
    founded: int  # year


@dataclass(frozen=True)
class Person:
    name: Name
    city: int  # index into World.cities
    age: int
    profession: Name
    pet: Name
    color: Name


@dataclass(frozen=True)
class Fact:
    """One checkable statement: `subject` has `relation` = `value` (both languages)."""

    subject: Name
    relation: str  # one of PERSON_RELATIONS or CITY_RELATIONS
    value: Name


@dataclass
class World:
    seed: int
    cities: list[City]
    people: list[Person]
    facts: list[Fact] = field(default_factory=list)

    def city_of(self, person: Person) -> City:
        return self.cities[person.city]


def _invent_name(rng: random.Random, n_syllables: int, taken: set[str]) -> Name:
    keys = sorted(SYLLABLES)
    while True:
        parts = [rng.choice(keys) for _ in range(n_syllables)]
        en = "".join(parts).capitalize()
        if en not in taken:
            taken.add(en)
            return Name(en=en, ru="".join(SYLLABLES[p] for p in parts).capitalize())


def _facts(cities: list[City], people: list[Person]) -> list[Fact]:
    facts: list[Fact] = []
    for c in cities:
        facts += [
            Fact(c.name, "country", c.country),
            Fact(c.name, "river", c.river),
            Fact(c.name, "population", Name(str(c.population), str(c.population))),
            Fact(c.name, "founded", Name(str(c.founded), str(c.founded))),
        ]
    for p in people:
        facts += [
            Fact(p.name, relation, value) for relation, value in person_values(p, cities[p.city]).items()
        ]
    return facts


def person_values(p: Person, city: City) -> dict[str, Name]:
    """The values of `p`'s facts by relation (`PERSON_RELATIONS` order); `city` is the one `p` lives in."""
    return {
        "city": city.name,
        "age": Name(str(p.age), str(p.age)),
        "profession": p.profession,
        "pet": p.pet,
        "color": p.color,
    }


def make_world(seed: int, n_cities: int = 8, n_people: int = 32) -> World:
    """Build the world deterministically from `seed` (same seed, same world, on any machine)."""
    if n_cities < 1 or n_people < 1:
        raise ValueError(f"world needs at least one city and one person, got {n_cities=} {n_people=}")
    rng = random.Random(seed)
    taken: set[str] = set()
    cities = [
        City(
            name=_invent_name(rng, 3, taken),
            country=Name(*rng.choice(COUNTRIES)),
            river=_invent_name(rng, 2, taken),
            population=rng.randint(20, 900),
            founded=rng.randint(900, 1900),
        )
        for _ in range(n_cities)
    ]
    people = [
        Person(
            name=_invent_name(rng, 2, taken),
            city=rng.randrange(n_cities),
            age=rng.randint(18, 80),
            profession=Name(*rng.choice(PROFESSIONS)),
            pet=Name(*rng.choice(PETS)),
            color=Name(*rng.choice(COLORS)),
        )
        for _ in range(n_people)
    ]
    return World(seed=seed, cities=cities, people=people, facts=_facts(cities, people))
