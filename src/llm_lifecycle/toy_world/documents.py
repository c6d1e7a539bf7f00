"""Web-like pages about the toy world, mixed with labelled crawl noise: the input of `data_filtering`.

Design: clean pages state the world's facts (people, cities), plus small worked sums and word games, in
Russian and English, so a tiny LLaMA trained on the filtered corpus can learn them. Every fact is
stated in both languages many times, each time with a randomly chosen template, sentence order and
mix of entities, so that two clean pages share few word 5-grams and MinHash near-dedup (Broder 1997)
leaves them alone. Noise imitates what a web crawl brings (cf. the failure modes the Gopher, C4 and
FineWeb heuristics target: Rae et al. 2021, Raffel et al. 2020, Penedo et al. 2024): exact and near
copies, navigation/cookie/legal boilerplate, gibberish and mojibake, too-short pages, symbol soup,
repeated lines, SEO n-gram spam, and pages about the same world in German, French, Spanish and
Ukrainian (so the topic alone does not give them away).

The labels (`{"id", "label", "kind"}`) are returned separately: the filters never see them, only the
evaluation does. For duplicated pages the earliest copy in the output order is the clean one. Output is
a pure function of (world, config, seed): one `random.Random(seed)`, no set-order dependence.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llm_lifecycle.toy_world.world import City, Person, World

NOISE_KINDS = (
    "exact_duplicate",
    "near_duplicate",
    "boilerplate",
    "gibberish",
    "too_short",
    "symbol_heavy",
    "repeated_lines",
    "repeated_ngrams",
    "foreign_language",
)


class NoiseShares(BaseModel):
    """Number of noise pages of each kind, as a share of `n_clean`."""

    model_config = ConfigDict(extra="forbid")

    exact_duplicate: float = Field(0.05, ge=0, le=1)
    near_duplicate: float = Field(0.05, ge=0, le=1)
    boilerplate: float = Field(0.03, ge=0, le=1)
    gibberish: float = Field(0.03, ge=0, le=1)
    too_short: float = Field(0.03, ge=0, le=1)
    symbol_heavy: float = Field(0.03, ge=0, le=1)
    repeated_lines: float = Field(0.03, ge=0, le=1)
    repeated_ngrams: float = Field(0.03, ge=0, le=1)
    foreign_language: float = Field(0.04, ge=0, le=1)


class DocumentsConfig(BaseModel):
    """Sizes of the raw web corpus. Defaults: ~1200 clean pages, ~0.9 M characters, ~30% noise."""

    model_config = ConfigDict(extra="forbid")

    n_clean: int = Field(1200, ge=1)
    ru_share: float = Field(0.5, ge=0, le=1)
    people_per_page: tuple[int, int] = (2, 3)  # min, max person paragraphs on a clean page
    city_paragraph_prob: float = Field(0.7, ge=0, le=1)
    extra_paragraph_prob: float = Field(0.5, ge=0, le=1)  # a worked sum or a word game
    nav_line_prob: float = Field(0.15, ge=0, le=1)  # clean pages may carry one menu line, as real ones do
    min_words: int = Field(90, ge=1)  # body words of a clean page (Gopher's floor is 50)
    noise: NoiseShares = NoiseShares()

    @model_validator(mode="after")
    def _page_sizes(self) -> DocumentsConfig:
        lo, hi = self.people_per_page
        if not 1 <= lo <= hi:
            raise ValueError(f"people_per_page must be (min, max), 1 <= min <= max: {self.people_per_page}")
        return self


# ---------------------------------------------------------------------------------------- vocabulary
# Translations of the world's nouns, keyed by the English word, for the foreign-language noise.
FOREIGN_WORDS: dict[str, dict[str, str]] = {
    "de": {
        "baker": "Bäcker",
        "teacher": "Lehrer",
        "doctor": "Arzt",
        "pilot": "Pilot",
        "painter": "Maler",
        "engineer": "Ingenieur",
        "gardener": "Gärtner",
        "librarian": "Bibliothekar",
        "cat": "Katze",
        "dog": "Hund",
        "parrot": "Papagei",
        "turtle": "Schildkröte",
        "hamster": "Hamster",
        "rabbit": "Kaninchen",
        "red": "rot",
        "blue": "blau",
        "green": "grün",
        "yellow": "gelb",
        "white": "weiß",
        "black": "schwarz",
    },
    "fr": {
        "baker": "boulanger",
        "teacher": "professeur",
        "doctor": "médecin",
        "pilot": "pilote",
        "painter": "peintre",
        "engineer": "ingénieur",
        "gardener": "jardinier",
        "librarian": "bibliothécaire",
        "cat": "chat",
        "dog": "chien",
        "parrot": "perroquet",
        "turtle": "tortue",
        "hamster": "hamster",
        "rabbit": "lapin",
        "red": "rouge",
        "blue": "bleu",
        "green": "vert",
        "yellow": "jaune",
        "white": "blanc",
        "black": "noir",
    },
    "es": {
        "baker": "panadero",
        "teacher": "profesor",
        "doctor": "médico",
        "pilot": "piloto",
        "painter": "pintor",
        "engineer": "ingeniero",
        "gardener": "jardinero",
        "librarian": "bibliotecario",
        "cat": "gato",
        "dog": "perro",
        "parrot": "loro",
        "turtle": "tortuga",
        "hamster": "hámster",
        "rabbit": "conejo",
        "red": "rojo",
        "blue": "azul",
        "green": "verde",
        "yellow": "amarillo",
        "white": "blanco",
        "black": "negro",
    },
    "uk": {
        "baker": "пекар",
        "teacher": "вчитель",
        "doctor": "лікар",
        "pilot": "пілот",
        "painter": "художник",
        "engineer": "інженер",
        "gardener": "садівник",
        "librarian": "бібліотекар",
        "cat": "кішка",
        "dog": "собака",
        "parrot": "папуга",
        "turtle": "черепаха",
        "hamster": "хом'як",
        "rabbit": "кролик",
        "red": "червоний",
        "blue": "синій",
        "green": "зелений",
        "yellow": "жовтий",
        "white": "білий",
        "black": "чорний",
    },
}
GAME_WORDS = {
    "en": [
        "garden",
        "window",
        "river",
        "bread",
        "music",
        "winter",
        "market",
        "letter",
        "bridge",
        "forest",
        "candle",
        "orange",
        "planet",
        "summer",
        "table",
        "silver",
    ],
    "ru": [
        "сад",
        "окно",
        "река",
        "хлеб",
        "музыка",
        "зима",
        "рынок",
        "письмо",
        "мост",
        "лес",
        "свеча",
        "апельсин",
        "планета",
        "лето",
        "стол",
        "серебро",
    ],
}
SITES = {
    "en": ["norlandia-stories.example", "travel-notes.example", "townlife.example", "ourneighbours.example"],
    "ru": [
        "gorodskie-istorii.example",
        "zametki-puteshestvennika.example",
        "sosedi.example",
        "nash-kraj.example",
    ],
}


def _ru_plural(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return one
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return few
    return many


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def _an(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


# ---------------------------------------------------------------------------------------- templates
# Each person fact has several sentence templates per language; the subject's name is in every one of
# them, so each sentence states its fact on its own (checkable, and learnable without coreference).
def _person_facts(p: Person, c: City, lang: str) -> dict[str, list[str]]:
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
                f"{n} works as {_an(prof)}.",
                f"By profession, {n} is {_an(prof)}.",
                f"{n} has been {_an(prof)} for a long time.",
                f"Everyone in town knows {n} as a good {prof}.",
            ],
            "pet": [
                f"{n} has a pet {pet}.",
                f"At home, {n} keeps {_an(pet)}.",
                f"The pet that lives with {n} is {_an(pet)}.",
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
    years = _ru_plural(age, "год", "года", "лет")
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


def _combos(p: Person, c: City, lang: str) -> list[tuple[tuple[str, ...], str]]:
    """Compound sentences (several facts of one subject) and the fact keys each one covers."""
    if lang == "en":
        n, city, age, prof, pet = p.name.en, c.name.en, p.age, p.profession.en, p.pet.en
        return [
            (("profession", "city", "age"), f"{n}, {_an(prof)} from {city}, is {age} years old."),
            (("age", "profession"), f"{n} is {age} years old and works as {_an(prof)}."),
            (("city", "pet"), f"{n} lives in {city} together with a pet {pet}."),
        ]
    n, city, age, prof, pet = p.name.ru, c.name.ru, p.age, p.profession.ru, p.pet.ru
    years = _ru_plural(age, "год", "года", "лет")
    return [
        (
            ("profession", "city", "age"),
            f"{n}, {prof} из города {city}, в свои {age} {years} много работает.",
        ),
        (("city", "pet"), f"{n} живёт в городе {city}, а дома ждёт питомец: {pet}."),
    ]


def _city_facts(c: City, lang: str) -> dict[str, list[str]]:
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
            f"В городе {n} живёт около {pop} {_ru_plural(pop, 'тысячи', 'тысяч', 'тысяч')} человек.",
            f"Население города {n} — {pop} {_ru_plural(pop, 'тысяча', 'тысячи', 'тысяч')} человек.",
        ],
        "founded": [
            f"Город {n} был основан в {year} году.",
            f"Год основания города {n} — {year}.",
            f"История города {n} начинается в {year} году, когда его основали.",
        ],
    }


FILLERS = {
    "en": [
        "{p} starts every morning with a cup of tea.",
        "{p} enjoys long walks in the evening.",
        "Friends often visit {p} on Sundays.",
        "{p} reads a few pages of a book before going to sleep.",
        "In summer, {p} spends a lot of time outside.",
        "{p} is known for telling funny stories.",
    ],
    "ru": [
        "Каждое утро {p} начинает с чашки чая.",
        "{p} любит долгие прогулки по вечерам.",
        "{p} перед сном читает несколько страниц книги.",
        "Летом {p} много времени проводит на улице.",
        "{p} умеет рассказывать смешные истории.",
        "{p} редко уезжает из дома надолго.",
    ],
}
CITY_FILLERS = {
    "en": [
        "The old market square of {c} is busy every Saturday.",
        "Tourists like the narrow streets of {c}.",
        "In winter, the streets of {c} are quiet and white.",
    ],
    "ru": [
        "По субботам на старой площади города {c} шумит рынок.",
        "Туристам нравятся узкие улицы города {c}.",
        "Зимой улицы города {c} тихие и белые.",
    ],
}
INTROS = {
    "en": [
        "This page collects short notes about the people of {country}.",
        "We keep writing about our neighbours, and today there are a few new names.",
        "Here are some stories that readers sent us this week.",
        "Our small local guide continues with people and places you may not know yet.",
    ],
    "ru": [
        "На этой странице собраны короткие заметки о жителях страны {country}.",
        "Мы продолжаем рассказывать о наших соседях, и сегодня здесь несколько новых имён.",
        "Вот истории, которые читатели прислали нам на этой неделе.",
        "Наш небольшой путеводитель продолжает рассказ о людях и местах.",
    ],
}
OUTROS = {
    "en": [
        "Thank you for reading, and come back tomorrow for more stories.",
        "If you know more about these people, write to us.",
        "That is all for today.",
    ],
    "ru": [
        "Спасибо, что читаете нас, завтра будут новые истории.",
        "Если вы знаете больше об этих людях, напишите нам.",
        "На сегодня это всё.",
    ],
}
TITLES = {
    "en": [
        "Notes about {p} and friends",
        "{c}: people and places",
        "Travel diary, part {k}",
        "Who lives in {c}",
    ],
    "ru": [
        "Заметки о соседях, часть {k}",
        "{c}: люди и места",
        "Дневник путешественника",
        "Кто живёт в городе {c}",
    ],
}
NAV = {
    "en": ["Home | Stories | Cities | Contact", "Home » People » {c}", "Menu: Home / News / About"],
    "ru": [
        "Главная | Истории | Города | Контакты",
        "Главная » Люди » {c}",
        "Меню: Главная / Новости / О нас",
    ],
}


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


def _word_paragraph(rng: random.Random, lang: str) -> str:
    w = rng.choice(GAME_WORDS[lang])
    if lang == "en":
        return (
            f"A little word game for today. The word {w} has {len(w)} letters. Spelled backwards, {w} "
            f"becomes {w[::-1]}. The first letter of {w} is {w[0]}."
        )
    letters = _ru_plural(len(w), "буква", "буквы", "букв")
    return (
        f"Игра в слова на сегодня. В слове {w} {len(w)} {letters}. Если прочитать его задом наперёд, "
        f"получится {w[::-1]}. Первая буква этого слова — {w[0]}."
    )


def _pick(rng: random.Random, options: Sequence, key: str, used: set[tuple[str, int]]):
    """A random option not yet used on this page (writers vary their phrasing; Gopher's repetition
    rule would rightly flag a page that repeats one 5-word template for every person on it)."""
    fresh = [i for i in range(len(options)) if (key, i) not in used] or list(range(len(options)))
    i = rng.choice(fresh)
    used.add((key, i))
    return options[i]


def _person_paragraph(rng: random.Random, p: Person, c: City, lang: str, used: set[tuple[str, int]]) -> str:
    facts = _person_facts(p, c, lang)
    name = p.name.en if lang == "en" else p.name.ru
    keys = ["city", "age", "profession", "pet", "color"]
    rng.shuffle(keys)
    keys = keys[: rng.randint(3, 5)]
    sentences = []
    if rng.random() < 0.3:  # a compound sentence replaces the single-fact sentences it covers
        covered, sentence = _pick(rng, _combos(p, c, lang), "combo", used)
        keys = [k for k in keys if k not in covered]
        sentences.append(sentence)
    sentences += [_pick(rng, facts[k], k, used) for k in keys]
    rng.shuffle(sentences)
    if rng.random() < 0.6:
        filler = _pick(rng, FILLERS[lang], "filler", used).format(p=name)
        sentences.insert(rng.randrange(len(sentences) + 1), filler)
    return " ".join(sentences)


def _city_paragraph(rng: random.Random, c: City, lang: str) -> str:
    facts = _city_facts(c, lang)
    keys = ["country", "river", "population", "founded"]
    rng.shuffle(keys)
    sentences = [rng.choice(facts[k]) for k in keys[: rng.randint(2, 4)]]
    if rng.random() < 0.5:
        sentences.insert(
            rng.randrange(len(sentences) + 1),
            rng.choice(CITY_FILLERS[lang]).format(c=c.name.en if lang == "en" else c.name.ru),
        )
    return " ".join(sentences)


# ---------------------------------------------------------------------------------------- clean pages
class _Cycler:
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


def _clean_page(
    rng: random.Random,
    world: World,
    cfg: DocumentsConfig,
    lang: str,
    *,
    cyclers: tuple[_Cycler, _Cycler],
    k: int,
) -> str:
    people, cities = cyclers
    lo, hi = cfg.people_per_page
    persons = people.take(rng.randint(lo, hi))
    used: set[tuple[str, int]] = set()
    paragraphs = [_person_paragraph(rng, p, world.city_of(p), lang, used) for p in persons]
    if rng.random() < cfg.city_paragraph_prob:
        # Often the city of someone on the page, sometimes any city: both are natural.
        city = world.city_of(rng.choice(persons)) if rng.random() < 0.5 else cities.take(1)[0]
        paragraphs.insert(rng.randrange(len(paragraphs) + 1), _city_paragraph(rng, city, lang))
    while sum(len(x.split()) for x in paragraphs) < cfg.min_words:  # long enough to be a real page
        extra = people.take(1)[0]
        paragraphs.append(_person_paragraph(rng, extra, world.city_of(extra), lang, used))
    if rng.random() < cfg.extra_paragraph_prob:
        name = persons[0].name.en if lang == "en" else persons[0].name.ru
        extra_par = _sum_paragraph(rng, lang, name) if rng.random() < 0.5 else _word_paragraph(rng, lang)
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


# ---------------------------------------------------------------------------------------- noise
BOILERPLATE = {
    "en": [
        "Home | News | Cities | People | Contact",
        "Home · About us · Blog · Shop · Help",
        "Main menu: Home / Travel / Weather / Forum",
        "Categories » Travel » {country} » {c}",
        "Sign in | Register",
        "Log in to your account",
        "Forgot your password?",
        "Create an account",
        "We use cookies to improve your experience on our site. By continuing to browse, you agree to our "
        "use of cookies.",
        "This website uses cookies. Accept all | Reject | Settings",
        "© 2024 {site}. All rights reserved.",
        "Privacy Policy | Terms of Use | Cookie Policy",
        "Copyright © 2023-2024 {site}",
        "Share: Facebook | Twitter | Email",
        "Subscribe to our newsletter",
        "Back to top",
        "Read more »",
        "Previous page | Next page",
        "Search...",
        "Please enable JavaScript to use this site.",
        "Related posts",
        "Tags: travel, {c}, news",
        "Loading...",
        "Advertisement",
    ],
    "ru": [
        "Главная | Новости | Города | Люди | Контакты",
        "Главная · О нас · Блог · Магазин · Помощь",
        "Меню: Главная / Путешествия / Погода / Форум",
        "Рубрики » Путешествия » {country} » {c}",
        "Войти | Регистрация",
        "Войдите в свой аккаунт",
        "Забыли пароль?",
        "Создать аккаунт",
        "Мы используем файлы cookie, чтобы сайт работал лучше. Продолжая пользоваться сайтом, вы "
        "соглашаетесь с их использованием.",
        "Этот сайт использует cookie. Принять все | Отклонить | Настройки",
        "© 2024 {site}. Все права защищены.",
        "Политика конфиденциальности | Пользовательское соглашение",
        "Копирование материалов запрещено без ссылки на источник.",
        "Поделиться: ВКонтакте | Телеграм | Почта",
        "Подпишитесь на нашу рассылку",
        "Наверх",
        "Читать далее »",
        "Предыдущая страница | Следующая страница",
        "Поиск...",
        "Включите JavaScript для работы сайта.",
        "Похожие записи",
        "Метки: путешествия, {c}, новости",
        "Загрузка...",
        "Реклама",
    ],
}
SEO = {
    "en": [
        "cheap tickets to {c}",
        "best hotels in {c}",
        "buy {pet} food online",
        "{c} weather today",
        "cheap flights {c}",
        "{prof} jobs in {c}",
    ],
    "ru": [
        "дешёвые билеты в город {c}",
        "лучшие отели в городе {c}",
        "купить корм {pet} недорого",
        "погода {c} сегодня",
        "авиабилеты {c} дёшево",
        "работа {prof} в городе {c}",
    ],
}
SYMBOLS = ["★", "☆", "✓", "✔", "→", "←", "♥", "♦", "●", "■", "▲", "►", "|", "#", "...", "»", "~", "*", "+++"]
KEYBOARD_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm", "йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю"]


def _gibberish(rng: random.Random, lang: str) -> str:
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


def _symbol_heavy(rng: random.Random, lang: str, fmt: dict) -> str:
    base = rng.choice(SEO[lang]).format(**fmt).split() + [fmt["c"], fmt["p"]]
    lines = []
    for _ in range(rng.randint(8, 20)):
        parts = []
        for _ in range(rng.randint(4, 10)):
            parts.append(rng.choice(SYMBOLS) * rng.randint(1, 3) if rng.random() < 0.55 else rng.choice(base))
        lines.append(" ".join(parts))
    return "\n".join(lines)


def _repeated_lines(rng: random.Random, world: World, lang: str) -> str:
    p = rng.choice(world.people)
    facts = _person_facts(p, world.city_of(p), lang)
    line = " ".join(rng.choice(facts[k]) for k in ("city", "profession"))
    others = [rng.choice(facts[k]) for k in ("age", "pet", "color")]
    lines = [line] * rng.randint(8, 20) + others[: rng.randint(0, 3)]
    rng.shuffle(lines)
    return "\n".join(lines)


def _repeated_ngrams(rng: random.Random, lang: str, fmt: dict) -> str:
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


def _foreign(rng: random.Random, world: World, lang: str) -> str:
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


def _near_copy(rng: random.Random, text: str, lang: str) -> str:
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


def _too_short(rng: random.Random, world: World, lang: str) -> str:
    p = rng.choice(world.people)
    facts = _person_facts(p, world.city_of(p), lang)
    keys = rng.sample(["city", "age", "profession", "pet", "color"], rng.randint(1, 3))
    return " ".join(rng.choice(facts[k]) for k in keys)


def _boilerplate(rng: random.Random, world: World, lang: str, fmt: dict) -> str:
    lines = [s.format(**fmt) for s in rng.sample(BOILERPLATE[lang], rng.randint(8, 16))]
    if rng.random() < 0.5:  # a teaser line of real content, as a stripped page often keeps
        p = rng.choice(world.people)
        lines.insert(rng.randrange(len(lines)), rng.choice(_person_facts(p, world.city_of(p), lang)["city"]))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------- assembly
def _fmt(rng: random.Random, world: World, lang: str) -> dict:
    p = rng.choice(world.people)
    c = world.city_of(p)
    ru = lang == "ru"
    return {
        "p": p.name.ru if ru else p.name.en,
        "c": c.name.ru if ru else c.name.en,
        "country": c.country.ru if ru else c.country.en,
        "pet": p.pet.ru if ru else p.pet.en,
        "prof": p.profession.ru if ru else p.profession.en,
        "site": rng.choice(SITES[lang]),
    }


def _url(rng: random.Random, lang: str, k: int) -> str:
    site = rng.choice(SITES[lang]) if lang in SITES else f"{lang}-news.example"
    return f"https://{site}/page/{k}-{rng.randrange(10**6):06d}"


def generate_documents(world: World, cfg: DocumentsConfig, seed: int) -> tuple[list[dict], list[dict]]:
    """Raw pages `{"id", "text", "url", "lang"}` and their labels `{"id", "label", "kind"}` (same order)."""
    rng = random.Random(seed)
    n_ru = round(cfg.ru_share * cfg.n_clean)
    cyclers = {lang: (_Cycler(world.people, rng), _Cycler(world.cities, rng)) for lang in ("ru", "en")}
    # items: (text, lang, kind, group); group links a clean page with its copies (-1: none)
    items: list[tuple[str, str, str, int]] = []
    for k in range(cfg.n_clean):
        lang = "ru" if k < n_ru else "en"
        items.append((_clean_page(rng, world, cfg, lang, cyclers=cyclers[lang], k=k), lang, "clean", k))
    clean = list(items)

    def count(share: float) -> int:
        return round(share * cfg.n_clean)

    shares = cfg.noise
    for kind in ("exact_duplicate", "near_duplicate"):
        share = getattr(shares, kind)
        for text, lang, _, group in rng.sample(clean, min(len(clean), count(share))):
            copy = text if kind == "exact_duplicate" else _near_copy(rng, text, lang)
            items.append((copy, lang, kind, group))
    makers: dict[str, Callable[[str], str]] = {
        "boilerplate": lambda lang: _boilerplate(rng, world, lang, _fmt(rng, world, lang)),
        "gibberish": lambda lang: _gibberish(rng, lang),
        "too_short": lambda lang: _too_short(rng, world, lang),
        "symbol_heavy": lambda lang: _symbol_heavy(rng, lang, _fmt(rng, world, lang)),
        "repeated_lines": lambda lang: _repeated_lines(rng, world, lang),
        "repeated_ngrams": lambda lang: _repeated_ngrams(rng, lang, _fmt(rng, world, lang)),
    }
    for kind, make in makers.items():
        for _ in range(count(getattr(shares, kind))):
            lang = rng.choice(["ru", "en"])
            items.append((make(lang), lang, kind, -1))
    for i in range(count(shares.foreign_language)):
        lang = ("de", "fr", "es", "uk")[i % 4]
        items.append((_foreign(rng, world, lang), lang, "foreign_language", -1))

    rng.shuffle(items)
    _clean_copy_first(items)
    docs, labels = [], []
    for k, (raw, lang, kind, _) in enumerate(items):
        doc_id = f"doc-{k:05d}"
        text = unicodedata.normalize("NFC", raw)
        docs.append({"id": doc_id, "text": text, "url": _url(rng, lang, k), "lang": lang})
        labels.append({"id": doc_id, "label": "clean" if kind == "clean" else "noise", "kind": kind})
    return docs, labels


def _clean_copy_first(items: list[tuple[str, str, str, int]]) -> None:
    """Within each group of copies, move the clean original to the group's earliest position (in place)."""
    positions: dict[int, list[int]] = {}
    for pos, (_, _, _, group) in enumerate(items):
        if group >= 0:
            positions.setdefault(group, []).append(pos)
    for group_positions in positions.values():
        first = group_positions[0]
        original = next(p for p in group_positions if items[p][2] == "clean")
        items[first], items[original] = items[original], items[first]
