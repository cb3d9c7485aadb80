"""The occasions of a year on which accounts are cared for.

Tết Nguyên Đán and the public holidays come from the ``holidays`` package's Vietnam calendar:
its Vietnamese lunisolar calendar reckons the new moon at UTC+7, so Tết is Vietnam's and not
China's where the two differ (1985, 2007). International Women's Day (8/3) and Vietnamese
Women's Day (20/10) are not days off, so they are added here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import cache

import holidays


@dataclass(frozen=True)
class Occasion:
    """A day of the year: ``key`` names it in the plan (stable across runs), ``label`` in
    Vietnamese for people."""

    key: str
    on: date
    label: str


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@cache
def _vietnam(year: int, language: str) -> dict[date, str]:
    return dict(holidays.country_holidays("VN", years=year, language=language).items())


def tet(year: int) -> date:
    """The first day of the lunar year (mùng một Tết Nguyên Đán) in Vietnam, in ``year``."""
    english = holidays.country_holidays("VN", years=year, language="en_US")
    days = english.get_named("Lunar New Year", lookup="exact")
    if not days:
        raise ValueError(f"no Tết date known for {year}")
    return min(days)


def occasions(year: int) -> list[Occasion]:
    """The year's occasions in date order: Tết, each other public holiday once (its first day;
    the days around Tết and the days off in lieu are left out), 8/3 and 20/10."""
    english, vietnamese = _vietnam(year, "en_US"), _vietnam(year, "vi")
    found: dict[str, Occasion] = {}
    for day in sorted(english):
        name = english[day]
        if ("Lunar New Year" in name and name != "Lunar New Year") or "observed" in name:
            continue
        key = "tet" if name == "Lunar New Year" else f"holiday_{_slug(name)}"
        found.setdefault(key, Occasion(key, day, vietnamese.get(day, name)))
    found["women_day"] = Occasion("women_day", date(year, 3, 8), "Ngày Quốc tế Phụ nữ 8/3")
    found["vn_women_day"] = Occasion("vn_women_day", date(year, 10, 20),
                                     "Ngày Phụ nữ Việt Nam 20/10")
    return sorted(found.values(), key=lambda o: (o.on, o.key))


def anniversary(day: date, year: int) -> date | None:
    """``day``'s anniversary in ``year`` (29 February: the 28th in a common year); ``None``
    before the first one."""
    if year <= day.year:
        return None
    try:
        return day.replace(year=year)
    except ValueError:
        return date(year, 2, 28)
