"""The wording of the web corpus, as plain data: page furniture, crawl-noise vocabulary, translations.

Kept apart from the code that assembles pages (`clean_pages.py`, `noise.py`) so that the page logic reads
in a screen or two and the tables can be extended without touching it. Strings may hold `str.format`
fields filled in by the page code: `{p}` a person, `{c}` a city, `{country}`, `{pet}`, `{prof}`,
`{site}`, `{k}` the page number. Changing any entry changes the generated corpus (and every seed's run).
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------- clean pages
# Words for the word-game paragraphs (and, read as Latin-1, for mojibake noise).
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

# Where pages are published: their URLs and the `{site}` of boilerplate.
SITES = {
    "en": ["norlandia-stories.example", "travel-notes.example", "townlife.example", "ourneighbours.example"],
    "ru": [
        "gorodskie-istorii.example",
        "zametki-puteshestvennika.example",
        "sosedi.example",
        "nash-kraj.example",
    ],
}


# Furniture of a clean page around the fact paragraphs.
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


# ---------------------------------------------------------------------------------------- noise
# Lines of navigation, cookie and legal boilerplate.
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

# SEO phrases for symbol soup and n-gram spam.
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

# Symbol soup and keyboard mash.
SYMBOLS = ["★", "☆", "✓", "✔", "→", "←", "♥", "♦", "●", "■", "▲", "►", "|", "#", "...", "»", "~", "*", "+++"]
KEYBOARD_ROWS = ["qwertyuiop", "asdfghjkl", "zxcvbnm", "йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю"]

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
