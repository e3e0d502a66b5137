"""The results site's own words in Kazakh, Russian and English.

Party, region and election names come from the definition (its kk/ru/en names);
these are the page's labels. One table, so a missing translation is a KeyError
in the test that renders each page in each language, not an English word on a
Kazakh page. `{n}`-style fields are filled by the page script.
"""

from __future__ import annotations

LANGS = ("kk", "ru", "en")
LANG_NAMES = {"kk": "Қазақша", "ru": "Русский", "en": "English"}

TEXTS: dict[str, dict[str, str]] = {
    "site_title": {"kk": "Сайлау нәтижелері", "ru": "Итоги выборов", "en": "Election results"},
    "skip": {"kk": "Негізгі мазмұнға өту", "ru": "Перейти к содержанию", "en": "Skip to content"},
    "language": {"kk": "Тіл", "ru": "Язык", "en": "Language"},
    "national": {"kk": "Бүкіл ел", "ru": "Вся страна", "en": "Whole country"},
    "region": {"kk": "Облыс", "ru": "Область", "en": "Region"},
    "precinct": {"kk": "Учаске", "ru": "Участок", "en": "Precinct"},
    "reported": {"kk": "{r} / {e} учаске хаттамасы келді", "ru": "Получены протоколы {r} из {e} участков",
                 "en": "{r} of {e} precincts reported"},
    "complete": {"kk": "Барлық учаскелер есеп берді", "ru": "Все участки отчитались", "en": "All precincts have reported"},
    "provisional": {"kk": "Алдын ала нәтиже: орындар әлі өзгеруі мүмкін", "ru": "Предварительно: распределение мест может измениться",
                    "en": "Provisional: seats may still change"},
    "updated": {"kk": "Жаңартылды", "ru": "Обновлено", "en": "Updated"},
    "seats_heading": {"kk": "Мәжілістегі орындар", "ru": "Места в Мажилисе", "en": "Seats in the Mäjilis"},
    "not_allocated": {"kk": "бөлінбеген", "ru": "не распределено", "en": "not allocated"},
    "results_heading": {"kk": "Партиялар бойынша дауыстар", "ru": "Голоса по партиям", "en": "Votes by party"},
    "party": {"kk": "Партия", "ru": "Партия", "en": "Party"},
    "votes": {"kk": "Дауыс", "ru": "Голоса", "en": "Votes"},
    "share": {"kk": "Үлесі, %", "ru": "Доля, %", "en": "Share, %"},
    "list_seats": {"kk": "Тізім бойынша орын", "ru": "Места по списку", "en": "List seats"},
    "majilis_seats": {"kk": "Мәжілістегі орын", "ru": "Места в Мажилисе", "en": "Mäjilis seats"},
    "threshold": {"kk": "Өту шегі", "ru": "Проходной барьер", "en": "Threshold"},
    "allocation_sentence": {
        "kk": "Өту шегі: {n} қатысқан сайлаушының {p} % = {v} дауыс. Хэйр квотасы: {q} дауыс. Тізім бойынша {s} орын.",
        "ru": "Барьер: {p} % от {n} принявших участие = {v} голоса. Квота Хэйра: {q} голоса. Мест по спискам: {s}.",
        "en": "Threshold: {p} % of {n} who took part = {v} votes. Hare quota: {q} votes. {s} list seats."},
    "share_note": {"kk": "Үлес: қатысқан сайлаушылардан, %", "ru": "Доля от принявших участие избирателей, %",
                   "en": "Share of the voters who took part, %"},
    "turnout": {"kk": "Сайлаушылардың келуі", "ru": "Явка", "en": "Turnout"},
    "turnout_hours": {"kk": "Сағат бойынша келу", "ru": "Явка по часам", "en": "Turnout by hour"},
    "no_turnout": {"kk": "Келу туралы есептер әлі жоқ", "ru": "Сведений о явке пока нет", "en": "No turnout reports yet"},
    "turnout_regions": {"kk": "Облыстар бойынша сағаттағы келу, %", "ru": "Явка по областям и часам, %", "en": "Turnout by region and hour, %"},
    "hour": {"kk": "Сағат", "ru": "Час", "en": "Hour"},
    "map_heading": {"kk": "Облыстар картасы", "ru": "Карта областей", "en": "Map of the regions"},
    "map_note": {"kk": "Түс: алда келе жатқан партия", "ru": "Цвет: лидирующая партия", "en": "Colour: the leading party"},
    "regions_heading": {"kk": "Облыстар бойынша", "ru": "По областям", "en": "By region"},
    "precincts_heading": {"kk": "Учаскелер", "ru": "Участки", "en": "Precincts"},
    "missing_heading": {"kk": "Хаттамасы әлі келмеген учаскелер", "ru": "Участки, протоколы которых ещё не получены",
                        "en": "Precincts still missing"},
    "none_missing": {"kk": "Жоқ", "ru": "Нет", "en": "None"},
    "and_more": {"kk": "тағы {n}", "ru": "и ещё {n}", "en": "and {n} more"},
    "conflict": {"kk": "даулы (екі түрлі қол қойылған хаттама)", "ru": "спорный (два разных подписанных протокола)",
                 "en": "in conflict (two different signed protocols)"},
    "smd_heading": {"kk": "Бір мандатты округтер", "ru": "Одномандатные округа", "en": "Single-member districts"},
    "district": {"kk": "Округ", "ru": "Округ", "en": "District"},
    "outcome": {"kk": "Нәтиже", "ru": "Итог", "en": "Outcome"},
    "outcome_elected": {"kk": "Сайланды: {w}", "ru": "Избран(а): {w}", "en": "Elected: {w}"},
    "outcome_tie": {"kk": "Дауыс тең: {w}", "ru": "Равенство голосов: {w}", "en": "Tie: {w}"},
    "outcome_against_all": {"kk": "Барлығына қарсы дауыс көп: қайта сайлау", "ru": "Против всех больше: повторные выборы",
                            "en": "Against all won: a new election"},
    "outcome_no_votes": {"kk": "Дауыс жоқ", "ru": "Голосов нет", "en": "No votes"},
    "independent": {"kk": "өзін-өзі ұсынған", "ru": "самовыдвиженец", "en": "independent"},
    "state": {"kk": "Күйі", "ru": "Статус", "en": "Status"},
    "status_counted": {"kk": "Хаттама есептелді", "ru": "Протокол учтён", "en": "Protocol counted"},
    "status_missing": {"kk": "Хаттама әлі келмеді", "ru": "Протокол ещё не получен", "en": "Protocol not yet received"},
    "counts_heading": {"kk": "Хаттама деректері", "ru": "Данные протокола", "en": "Protocol figures"},
    "voters_on_list": {"kk": "Тізімдегі сайлаушылар", "ru": "Избирателей в списке", "en": "Voters on the list"},
    "voters_checked_in": {"kk": "Тіркелген сайлаушылар", "ru": "Зарегистрировано избирателей", "en": "Voters checked in"},
    "cards_issued": {"kk": "Берілген карталар", "ru": "Выдано карт", "en": "Cards issued"},
    "ballots_cast": {"kk": "Берілген бюллетеньдер", "ru": "Подано бюллетеней", "en": "Ballots cast"},
    "cards_cancelled": {"kk": "Жойылған карталар", "ru": "Погашено карт", "en": "Cards cancelled"},
    "files_heading": {"kk": "Қол қойылған файлдар және тексеру", "ru": "Подписанные файлы и проверка", "en": "Signed files and how to check them"},
    "files_note": {"kk": "Әр файлды өзіңіз тексере аласыз:", "ru": "Каждый файл можно проверить самостоятельно:",
                   "en": "Every file can be checked on your own computer:"},
    "all_files": {"kk": "Барлық жарияланған файлдар (tar)", "ru": "Все опубликованные файлы (tar)", "en": "All published files (tar)"},
    "definition": {"kk": "Сайлау анықтамасы", "ru": "Описание выборов", "en": "Election definition"},
    "registry": {"kk": "Учаске кілттерінің тізілімі", "ru": "Реестр ключей участков", "en": "Station key registry"},
    "protocol_file": {"kk": "Қол қойылған хаттама", "ru": "Подписанный протокол", "en": "Signed protocol"},
    "station_key": {"kk": "Учаске кілті", "ru": "Ключ участка", "en": "Station key"},
    "back_national": {"kk": "Бүкіл ел нәтижелері", "ru": "Итоги по стране", "en": "National results"},
    "noscript": {"kk": "Бұл бет JavaScript арқылы жаңартылады; деректер:", "ru": "Страница обновляется через JavaScript; данные:",
                 "en": "This page updates with JavaScript; the data:"},
    "not_found": {"kk": "Табылмады", "ru": "Не найдено", "en": "Not found"},
}


def texts(lang: str) -> dict[str, str]:
    """Every label in `lang` (one of LANGS)."""
    return {key: by_lang[lang] for key, by_lang in TEXTS.items()}
