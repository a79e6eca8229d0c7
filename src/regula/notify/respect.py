"""Respect for the citizen's time: quiet hours in their own time zone, Sundays, and a daily cap.

No message between 20:00 and 08:00 nor on Sundays, in the time zone of the citizen's UF (issue 5, item 5; both
configurable). A message that falls in quiet hours waits for the next allowed moment; it is not dropped.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from regula.config import Settings

#: Legal time of each UF's capital (IANA zones; Brazil has no daylight saving time since 2019). Fernando de
#: Noronha (PE, UTC−2) is the only municipality off its UF's zone; it is handled by the municipality code.
UF_TIMEZONES: Final[dict[str, str]] = {
    "AC": "America/Rio_Branco",
    "AM": "America/Manaus",
    "RR": "America/Boa_Vista",
    "RO": "America/Porto_Velho",
    "MT": "America/Cuiaba",
    "MS": "America/Campo_Grande",
    "PA": "America/Belem",
    "AP": "America/Belem",
    "TO": "America/Araguaina",
    "MA": "America/Fortaleza",
    "PI": "America/Fortaleza",
    "CE": "America/Fortaleza",
    "RN": "America/Fortaleza",
    "PB": "America/Fortaleza",
    "PE": "America/Recife",
    "AL": "America/Maceio",
    "SE": "America/Maceio",
    "BA": "America/Bahia",
}
FERNANDO_DE_NORONHA: Final = "2605459"


def timezone_for(uf: str, municipality_ibge: str | None = None) -> str:
    if municipality_ibge == FERNANDO_DE_NORONHA:
        return "America/Noronha"
    return UF_TIMEZONES.get(uf, "America/Sao_Paulo")


def next_allowed(moment: datetime, tz_name: str, settings: Settings) -> datetime:
    """``moment`` itself when a message may go out then, else the next moment it may (in UTC-aware form)."""
    tz = ZoneInfo(tz_name)
    local = moment.astimezone(tz)
    start, end = settings.notify_quiet_start_hour, settings.notify_quiet_end_hour
    for _ in range(8):
        quiet = (local.hour >= start or local.hour < end) if start > end else (start <= local.hour < end)
        sunday = settings.notify_quiet_sundays and local.weekday() == 6
        if not quiet and not sunday:
            return local.astimezone(moment.tzinfo)
        day = local.date()
        if (start > end and local.hour >= start) or sunday:
            day = day + timedelta(days=1)
        local = datetime.combine(day, time(end), tz)
    return local.astimezone(moment.tzinfo)


def local_day_start(moment: datetime, tz_name: str) -> datetime:
    local = moment.astimezone(ZoneInfo(tz_name))
    return datetime.combine(local.date(), time(0), ZoneInfo(tz_name))
