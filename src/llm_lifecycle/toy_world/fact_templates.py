"""The sentences that state the world's facts on web pages: per fact, several templates per language.

`person_facts` / `city_facts` map each relation (`world.PERSON_RELATIONS`, `world.CITY_RELATIONS`) to
its templates rendered for one subject; `person_combos` gives compound sentences that state several
facts at once. Clean pages (`clean_pages.py`) and some noise (`noise.py`) are written from these, and
the cloze probes (`cloze.py`) are cut from them, so what a pretrained model is asked is exactly what
its corpus says. The subject's name is in every sentence, so each one states its fact on its own.
"""

from __future__ import annotations

from llm_lifecycle.toy_world.grammar import ru_plural, with_article
from llm_lifecycle.toy_world.world import City, Person


def person_facts(p: Person, c: City, lang: str) -> dict[str, list[str]]:
    """Relation -> its sentences about `p` (who lives in `c`), in `lang` ("ru" or "en").

    Every sentence names `p`, so each states its fact on its own (checkable, and learnable without
    coreference)."""
    n, city, age = (p.name.en, c.name.en, p.age) if lang == "en" else (p.name.ru, c.name.ru, p.age)
    if lang == "en":
        prof, pet, color = p.profession.en, p.pet.en, p.color.en
        return {
            "city": [
                f"{n} lives in {city}.",
                f"{n} has lived in the city of {city} for many years.",
                f"The city where {n} lives is called {city}.",
                f"{n} calls {city} home and rarely travels.",
            ],
            "age": [
                f"{n} is {age} years old.",
                f"At {age}, {n} still learns something new every week.",
                f"{n} turned {age} this year.",
                f"{n} is {age} and walks to the market every morning.",
            ],
            "profession": [
                f"{n} works as {with_article(prof)}.",
                f"By profession, {n} is {with_article(prof)}.",
                f"{n} has been {with_article(prof)} for a long time.",
                f"Everyone in town knows {n} as a good {prof}.",
            ],
            "pet": [
                f"{n} has a pet {pet}.",
                f"At home, {n} keeps {with_article(pet)}.",
                f"The pet that lives with {n} is {with_article(pet)}.",
                f"{n} takes care of a small {pet}.",
            ],
            "color": [
                f"The favourite colour of {n} is {color}.",
                f"{n} likes {color} more than any other colour.",
                f"If you ask {n} about colours, the answer is always {color}.",
                f"{n} says that {color} is the best colour of all.",
            ],
        }
    prof, pet, color = p.profession.ru, p.pet.ru, p.color.ru
    years = ru_plural(age, "год", "года", "лет")
    return {
        "city": [
            f"{n} живёт в городе {city}.",
            f"Город, в котором живёт {n}, называется {city}.",
            f"{n} давно живёт в городе {city} и не хочет никуда переезжать.",
            f"Родной город, где {n} живёт уже много лет, — {city}.",
        ],
        "age": [
            f"В свои {age} {years} {n} каждый день ходит пешком.",
            f"Возраст: {age} {years}, а зовут этого человека {n}.",
            f"В этом году {n} празднует день рождения: исполняется {age} {years}.",
            f"В свои {age} {years} {n} продолжает учиться чему-то новому.",
        ],
        "profession": [
            f"По профессии {n} — {prof}.",
            f"{n} — {prof} по профессии.",
            f"Все в городе знают, что {n} — хороший {prof}.",
            f"{n} работает, и профессия у этого человека — {prof}.",
        ],
        "pet": [
            f"{n} держит дома питомца: это {pet}.",
            f"Питомец, о котором заботится {n}, — {pet}.",
            f"{n} каждый день кормит своего питомца, а питомец этот — {pet}.",
        ],
        "color": [
            f"{n} больше всего любит {color} цвет.",
            f"Из всех цветов {n} выбирает {color}.",
            f"Любимый цвет, говорит {n}, — {color}.",
            f"Когда {n} покупает одежду, выбор почти всегда падает на {color} цвет.",
        ],
    }


def person_combos(p: Person, c: City, lang: str) -> list[tuple[tuple[str, ...], str]]:
    """Compound sentences (several facts of one subject) and the fact keys each one covers."""
    if lang == "en":
        n, city, age, prof, pet = p.name.en, c.name.en, p.age, p.profession.en, p.pet.en
        return [
            (("profession", "city", "age"), f"{n}, {with_article(prof)} from {city}, is {age} years old."),
            (("age", "profession"), f"{n} is {age} years old and works as {with_article(prof)}."),
            (("city", "pet"), f"{n} lives in {city} together with a pet {pet}."),
        ]
    n, city, age, prof, pet = p.name.ru, c.name.ru, p.age, p.profession.ru, p.pet.ru
    years = ru_plural(age, "год", "года", "лет")
    return [
        (
            ("profession", "city", "age"),
            f"{n}, {prof} из города {city}, в свои {age} {years} много работает.",
        ),
        (("city", "pet"), f"{n} живёт в городе {city}, а дома ждёт питомец: {pet}."),
    ]


def city_facts(c: City, lang: str) -> dict[str, list[str]]:
    """Relation -> its sentences about city `c`, in `lang` ("ru" or "en")."""
    if lang == "en":
        n, country, river, pop, year = c.name.en, c.country.en, c.river.en, c.population, c.founded
        return {
            "country": [
                f"{n} is a city in {country}.",
                f"{n} lies in {country}.",
                f"The city of {n} belongs to {country}.",
            ],
            "river": [
                f"The river {river} flows through {n}.",
                f"{n} stands on the banks of the river {river}.",
                f"{n} was built along the river {river}.",
            ],
            "population": [
                f"About {pop} thousand people live in {n}.",
                f"{n} has a population of {pop} thousand.",
                f"The population of {n} is around {pop} thousand people.",
            ],
            "founded": [
                f"{n} was founded in {year}.",
                f"People founded {n} in {year}.",
                f"The history of {n} begins in {year}, the year it was founded.",
            ],
        }
    n, country, river, pop, year = c.name.ru, c.country.ru, c.river.ru, c.population, c.founded
    return {
        "country": [
            f"Город {n} находится в стране {country}.",
            f"{n} — город в стране {country}.",
            f"Страна, к которой относится город {n}, — {country}.",
        ],
        "river": [
            f"Через город {n} течёт река {river}.",
            f"Река {river} протекает через город {n}.",
            f"Город {n} стоит на берегу реки, которая называется {river}.",
        ],
        "population": [
            f"В городе {n} живёт около {pop} {ru_plural(pop, 'тысячи', 'тысяч', 'тысяч')} человек.",
            f"Население города {n} — {pop} {ru_plural(pop, 'тысяча', 'тысячи', 'тысяч')} человек.",
        ],
        "founded": [
            f"Город {n} был основан в {year} году.",
            f"Год основания города {n} — {year}.",
            f"История города {n} начинается в {year} году, когда его основали.",
        ],
    }
