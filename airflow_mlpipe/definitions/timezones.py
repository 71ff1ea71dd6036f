"""v1's ``TimeZone`` enum of Windows time-zone names, and the IANA zone each one means.

Schedules store and compute with IANA names (zoneinfo); v1 code passes ``TimeZone`` members. The
mapping is CLDR's windowsZones (territory 001); the two zones CLDR dropped since v1 keep their old
targets (Mid-Atlantic -> Etc/GMT+2, Kamchatka -> Asia/Kamchatka).
"""

from __future__ import annotations

import zoneinfo
from enum import Enum

from airflow_mlpipe.exceptions import UserErrorException


class TimeZone(Enum):
    """The valid time zones of a schedule (Azure ML v1's names and Windows values)."""

    DatelineStandardTime = "Dateline Standard Time"
    UTC11 = "UTC-11"
    AleutianStandardTime = "Aleutian Standard Time"
    HawaiianStandardTime = "Hawaiian Standard Time"
    MarquesasStandardTime = "Marquesas Standard Time"
    AlaskanStandardTime = "Alaskan Standard Time"
    UTC09 = "UTC-09"
    PacificStandardTimeMexico = "Pacific Standard Time (Mexico)"
    UTC08 = "UTC-08"
    PacificStandardTime = "Pacific Standard Time"
    USMountainStandardTime = "US Mountain Standard Time"
    MountainStandardTimeMexico = "Mountain Standard Time (Mexico)"
    MountainStandardTime = "Mountain Standard Time"
    CentralAmericaStandardTime = "Central America Standard Time"
    CentralStandardTime = "Central Standard Time"
    EasterIslandStandardTime = "Easter Island Standard Time"
    CentralStandardTimeMexico = "Central Standard Time (Mexico)"
    CanadaCentralStandardTime = "Canada Central Standard Time"
    SAPacificStandardTime = "SA Pacific Standard Time"
    EasternStandardTimeMexico = "Eastern Standard Time (Mexico)"
    EasternStandardTime = "Eastern Standard Time"
    HaitiStandardTime = "Haiti Standard Time"
    CubaStandardTime = "Cuba Standard Time"
    USEasternStandardTime = "US Eastern Standard Time"
    ParaguayStandardTime = "Paraguay Standard Time"
    AtlanticStandardTime = "Atlantic Standard Time"
    VenezuelaStandardTime = "Venezuela Standard Time"
    CentralBrazilianStandardTime = "Central Brazilian Standard Time"
    SAWesternStandardTime = "SA Western Standard Time"
    PacificSAStandardTime = "Pacific SA Standard Time"
    TurksAndCaicosStandardTime = "Turks And Caicos Standard Time"
    NewfoundlandStandardTime = "Newfoundland Standard Time"
    TocantinsStandardTime = "Tocantins Standard Time"
    ESouthAmericaStandardTime = "E. South America Standard Time"
    SAEasternStandardTime = "SA Eastern Standard Time"
    ArgentinaStandardTime = "Argentina Standard Time"
    GreenlandStandardTime = "Greenland Standard Time"
    MontevideoStandardTime = "Montevideo Standard Time"
    SaintPierreStandardTime = "Saint Pierre Standard Time"
    BahiaStandardTime = "Bahia Standard Time"
    UTC02 = "UTC-02"
    MidAtlanticStandardTime = "Mid-Atlantic Standard Time"
    AzoresStandardTime = "Azores Standard Time"
    CapeVerdeStandardTime = "Cape Verde Standard Time"
    UTC = "UTC"
    MoroccoStandardTime = "Morocco Standard Time"
    GMTStandardTime = "GMT Standard Time"
    GreenwichStandardTime = "Greenwich Standard Time"
    WEuropeStandardTime = "W. Europe Standard Time"
    CentralEuropeStandardTime = "Central Europe Standard Time"
    RomanceStandardTime = "Romance Standard Time"
    CentralEuropeanStandardTime = "Central European Standard Time"
    WCentralAfricaStandardTime = "W. Central Africa Standard Time"
    NamibiaStandardTime = "Namibia Standard Time"
    JordanStandardTime = "Jordan Standard Time"
    GTBStandardTime = "GTB Standard Time"
    MiddleEastStandardTime = "Middle East Standard Time"
    EgyptStandardTime = "Egypt Standard Time"
    EEuropeStandardTime = "E. Europe Standard Time"
    SyriaStandardTime = "Syria Standard Time"
    WestBankStandardTime = "West Bank Standard Time"
    SouthAfricaStandardTime = "South Africa Standard Time"
    FLEStandardTime = "FLE Standard Time"
    TurkeyStandardTime = "Turkey Standard Time"
    IsraelStandardTime = "Israel Standard Time"
    KaliningradStandardTime = "Kaliningrad Standard Time"
    LibyaStandardTime = "Libya Standard Time"
    ArabicStandardTime = "Arabic Standard Time"
    ArabStandardTime = "Arab Standard Time"
    BelarusStandardTime = "Belarus Standard Time"
    RussianStandardTime = "Russian Standard Time"
    EAfricaStandardTime = "E. Africa Standard Time"
    IranStandardTime = "Iran Standard Time"
    ArabianStandardTime = "Arabian Standard Time"
    AstrakhanStandardTime = "Astrakhan Standard Time"
    AzerbaijanStandardTime = "Azerbaijan Standard Time"
    RussiaTimeZone3 = "Russia Time Zone 3"
    MauritiusStandardTime = "Mauritius Standard Time"
    GeorgianStandardTime = "Georgian Standard Time"
    CaucasusStandardTime = "Caucasus Standard Time"
    AfghanistanStandardTime = "Afghanistan Standard Time"
    WestAsiaStandardTime = "West Asia Standard Time"
    EkaterinburgStandardTime = "Ekaterinburg Standard Time"
    PakistanStandardTime = "Pakistan Standard Time"
    IndiaStandardTime = "India Standard Time"
    SriLankaStandardTime = "Sri Lanka Standard Time"
    NepalStandardTime = "Nepal Standard Time"
    CentralAsiaStandardTime = "Central Asia Standard Time"
    BangladeshStandardTime = "Bangladesh Standard Time"
    NCentralAsiaStandardTime = "N. Central Asia Standard Time"
    MyanmarStandardTime = "Myanmar Standard Time"
    SEAsiaStandardTime = "SE Asia Standard Time"
    AltaiStandardTime = "Altai Standard Time"
    WMongoliaStandardTime = "W. Mongolia Standard Time"
    NorthAsiaStandardTime = "North Asia Standard Time"
    TomskStandardTime = "Tomsk Standard Time"
    ChinaStandardTime = "China Standard Time"
    NorthAsiaEastStandardTime = "North Asia East Standard Time"
    SingaporeStandardTime = "Singapore Standard Time"
    WAustraliaStandardTime = "W. Australia Standard Time"
    TaipeiStandardTime = "Taipei Standard Time"
    UlaanbaatarStandardTime = "Ulaanbaatar Standard Time"
    NorthKoreaStandardTime = "North Korea Standard Time"
    AusCentralWStandardTime = "Aus Central W. Standard Time"
    TransbaikalStandardTime = "Transbaikal Standard Time"
    TokyoStandardTime = "Tokyo Standard Time"
    KoreaStandardTime = "Korea Standard Time"
    YakutskStandardTime = "Yakutsk Standard Time"
    CenAustraliaStandardTime = "Cen. Australia Standard Time"
    AUSCentralStandardTime = "AUS Central Standard Time"
    EAustraliaStandardTime = "E. Australia Standard Time"
    AUSEasternStandardTime = "AUS Eastern Standard Time"
    WestPacificStandardTime = "West Pacific Standard Time"
    TasmaniaStandardTime = "Tasmania Standard Time"
    VladivostokStandardTime = "Vladivostok Standard Time"
    LordHoweStandardTime = "Lord Howe Standard Time"
    BougainvilleStandardTime = "Bougainville Standard Time"
    RussiaTimeZone10 = "Russia Time Zone 10"
    MagadanStandardTime = "Magadan Standard Time"
    NorfolkStandardTime = "Norfolk Standard Time"
    SakhalinStandardTime = "Sakhalin Standard Time"
    CentralPacificStandardTime = "Central Pacific Standard Time"
    RussiaTimeZone11 = "Russia Time Zone 11"
    NewZealandStandardTime = "New Zealand Standard Time"
    UTC12 = "UTC+12"
    FijiStandardTime = "Fiji Standard Time"
    KamchatkaStandardTime = "Kamchatka Standard Time"
    ChathamIslandsStandardTime = "Chatham Islands Standard Time"
    TongaStandardTime = "Tonga Standard Time"
    SamoaStandardTime = "Samoa Standard Time"
    LineIslandsStandardTime = "Line Islands Standard Time"


# Windows zone name -> IANA zone (CLDR windowsZones, territory 001)
WINDOWS_TO_IANA = {
    TimeZone.DatelineStandardTime.value: "Etc/GMT+12",
    TimeZone.UTC11.value: "Etc/GMT+11",
    TimeZone.AleutianStandardTime.value: "America/Adak",
    TimeZone.HawaiianStandardTime.value: "Pacific/Honolulu",
    TimeZone.MarquesasStandardTime.value: "Pacific/Marquesas",
    TimeZone.AlaskanStandardTime.value: "America/Anchorage",
    TimeZone.UTC09.value: "Etc/GMT+9",
    TimeZone.PacificStandardTimeMexico.value: "America/Tijuana",
    TimeZone.UTC08.value: "Etc/GMT+8",
    TimeZone.PacificStandardTime.value: "America/Los_Angeles",
    TimeZone.USMountainStandardTime.value: "America/Phoenix",
    TimeZone.MountainStandardTimeMexico.value: "America/Mazatlan",
    TimeZone.MountainStandardTime.value: "America/Denver",
    TimeZone.CentralAmericaStandardTime.value: "America/Guatemala",
    TimeZone.CentralStandardTime.value: "America/Chicago",
    TimeZone.EasterIslandStandardTime.value: "Pacific/Easter",
    TimeZone.CentralStandardTimeMexico.value: "America/Mexico_City",
    TimeZone.CanadaCentralStandardTime.value: "America/Regina",
    TimeZone.SAPacificStandardTime.value: "America/Bogota",
    TimeZone.EasternStandardTimeMexico.value: "America/Cancun",
    TimeZone.EasternStandardTime.value: "America/New_York",
    TimeZone.HaitiStandardTime.value: "America/Port-au-Prince",
    TimeZone.CubaStandardTime.value: "America/Havana",
    TimeZone.USEasternStandardTime.value: "America/Indianapolis",
    TimeZone.ParaguayStandardTime.value: "America/Asuncion",
    TimeZone.AtlanticStandardTime.value: "America/Halifax",
    TimeZone.VenezuelaStandardTime.value: "America/Caracas",
    TimeZone.CentralBrazilianStandardTime.value: "America/Cuiaba",
    TimeZone.SAWesternStandardTime.value: "America/La_Paz",
    TimeZone.PacificSAStandardTime.value: "America/Santiago",
    TimeZone.TurksAndCaicosStandardTime.value: "America/Grand_Turk",
    TimeZone.NewfoundlandStandardTime.value: "America/St_Johns",
    TimeZone.TocantinsStandardTime.value: "America/Araguaina",
    TimeZone.ESouthAmericaStandardTime.value: "America/Sao_Paulo",
    TimeZone.SAEasternStandardTime.value: "America/Cayenne",
    TimeZone.ArgentinaStandardTime.value: "America/Buenos_Aires",
    TimeZone.GreenlandStandardTime.value: "America/Godthab",
    TimeZone.MontevideoStandardTime.value: "America/Montevideo",
    TimeZone.SaintPierreStandardTime.value: "America/Miquelon",
    TimeZone.BahiaStandardTime.value: "America/Bahia",
    TimeZone.UTC02.value: "Etc/GMT+2",
    TimeZone.MidAtlanticStandardTime.value: "Etc/GMT+2",
    TimeZone.AzoresStandardTime.value: "Atlantic/Azores",
    TimeZone.CapeVerdeStandardTime.value: "Atlantic/Cape_Verde",
    TimeZone.UTC.value: "Etc/UTC",
    TimeZone.MoroccoStandardTime.value: "Africa/Casablanca",
    TimeZone.GMTStandardTime.value: "Europe/London",
    TimeZone.GreenwichStandardTime.value: "Atlantic/Reykjavik",
    TimeZone.WEuropeStandardTime.value: "Europe/Berlin",
    TimeZone.CentralEuropeStandardTime.value: "Europe/Budapest",
    TimeZone.RomanceStandardTime.value: "Europe/Paris",
    TimeZone.CentralEuropeanStandardTime.value: "Europe/Warsaw",
    TimeZone.WCentralAfricaStandardTime.value: "Africa/Lagos",
    TimeZone.NamibiaStandardTime.value: "Africa/Windhoek",
    TimeZone.JordanStandardTime.value: "Asia/Amman",
    TimeZone.GTBStandardTime.value: "Europe/Bucharest",
    TimeZone.MiddleEastStandardTime.value: "Asia/Beirut",
    TimeZone.EgyptStandardTime.value: "Africa/Cairo",
    TimeZone.EEuropeStandardTime.value: "Europe/Chisinau",
    TimeZone.SyriaStandardTime.value: "Asia/Damascus",
    TimeZone.WestBankStandardTime.value: "Asia/Hebron",
    TimeZone.SouthAfricaStandardTime.value: "Africa/Johannesburg",
    TimeZone.FLEStandardTime.value: "Europe/Kiev",
    TimeZone.TurkeyStandardTime.value: "Europe/Istanbul",
    TimeZone.IsraelStandardTime.value: "Asia/Jerusalem",
    TimeZone.KaliningradStandardTime.value: "Europe/Kaliningrad",
    TimeZone.LibyaStandardTime.value: "Africa/Tripoli",
    TimeZone.ArabicStandardTime.value: "Asia/Baghdad",
    TimeZone.ArabStandardTime.value: "Asia/Riyadh",
    TimeZone.BelarusStandardTime.value: "Europe/Minsk",
    TimeZone.RussianStandardTime.value: "Europe/Moscow",
    TimeZone.EAfricaStandardTime.value: "Africa/Nairobi",
    TimeZone.IranStandardTime.value: "Asia/Tehran",
    TimeZone.ArabianStandardTime.value: "Asia/Dubai",
    TimeZone.AstrakhanStandardTime.value: "Europe/Astrakhan",
    TimeZone.AzerbaijanStandardTime.value: "Asia/Baku",
    TimeZone.RussiaTimeZone3.value: "Europe/Samara",
    TimeZone.MauritiusStandardTime.value: "Indian/Mauritius",
    TimeZone.GeorgianStandardTime.value: "Asia/Tbilisi",
    TimeZone.CaucasusStandardTime.value: "Asia/Yerevan",
    TimeZone.AfghanistanStandardTime.value: "Asia/Kabul",
    TimeZone.WestAsiaStandardTime.value: "Asia/Tashkent",
    TimeZone.EkaterinburgStandardTime.value: "Asia/Yekaterinburg",
    TimeZone.PakistanStandardTime.value: "Asia/Karachi",
    TimeZone.IndiaStandardTime.value: "Asia/Calcutta",
    TimeZone.SriLankaStandardTime.value: "Asia/Colombo",
    TimeZone.NepalStandardTime.value: "Asia/Katmandu",
    TimeZone.CentralAsiaStandardTime.value: "Asia/Bishkek",
    TimeZone.BangladeshStandardTime.value: "Asia/Dhaka",
    TimeZone.NCentralAsiaStandardTime.value: "Asia/Novosibirsk",
    TimeZone.MyanmarStandardTime.value: "Asia/Rangoon",
    TimeZone.SEAsiaStandardTime.value: "Asia/Bangkok",
    TimeZone.AltaiStandardTime.value: "Asia/Barnaul",
    TimeZone.WMongoliaStandardTime.value: "Asia/Hovd",
    TimeZone.NorthAsiaStandardTime.value: "Asia/Krasnoyarsk",
    TimeZone.TomskStandardTime.value: "Asia/Tomsk",
    TimeZone.ChinaStandardTime.value: "Asia/Shanghai",
    TimeZone.NorthAsiaEastStandardTime.value: "Asia/Irkutsk",
    TimeZone.SingaporeStandardTime.value: "Asia/Singapore",
    TimeZone.WAustraliaStandardTime.value: "Australia/Perth",
    TimeZone.TaipeiStandardTime.value: "Asia/Taipei",
    TimeZone.UlaanbaatarStandardTime.value: "Asia/Ulaanbaatar",
    TimeZone.NorthKoreaStandardTime.value: "Asia/Pyongyang",
    TimeZone.AusCentralWStandardTime.value: "Australia/Eucla",
    TimeZone.TransbaikalStandardTime.value: "Asia/Chita",
    TimeZone.TokyoStandardTime.value: "Asia/Tokyo",
    TimeZone.KoreaStandardTime.value: "Asia/Seoul",
    TimeZone.YakutskStandardTime.value: "Asia/Yakutsk",
    TimeZone.CenAustraliaStandardTime.value: "Australia/Adelaide",
    TimeZone.AUSCentralStandardTime.value: "Australia/Darwin",
    TimeZone.EAustraliaStandardTime.value: "Australia/Brisbane",
    TimeZone.AUSEasternStandardTime.value: "Australia/Sydney",
    TimeZone.WestPacificStandardTime.value: "Pacific/Port_Moresby",
    TimeZone.TasmaniaStandardTime.value: "Australia/Hobart",
    TimeZone.VladivostokStandardTime.value: "Asia/Vladivostok",
    TimeZone.LordHoweStandardTime.value: "Australia/Lord_Howe",
    TimeZone.BougainvilleStandardTime.value: "Pacific/Bougainville",
    TimeZone.RussiaTimeZone10.value: "Asia/Srednekolymsk",
    TimeZone.MagadanStandardTime.value: "Asia/Magadan",
    TimeZone.NorfolkStandardTime.value: "Pacific/Norfolk",
    TimeZone.SakhalinStandardTime.value: "Asia/Sakhalin",
    TimeZone.CentralPacificStandardTime.value: "Pacific/Guadalcanal",
    TimeZone.RussiaTimeZone11.value: "Asia/Kamchatka",
    TimeZone.NewZealandStandardTime.value: "Pacific/Auckland",
    TimeZone.UTC12.value: "Etc/GMT-12",
    TimeZone.FijiStandardTime.value: "Pacific/Fiji",
    TimeZone.KamchatkaStandardTime.value: "Asia/Kamchatka",
    TimeZone.ChathamIslandsStandardTime.value: "Pacific/Chatham",
    TimeZone.TongaStandardTime.value: "Pacific/Tongatapu",
    TimeZone.SamoaStandardTime.value: "Pacific/Apia",
    TimeZone.LineIslandsStandardTime.value: "Pacific/Kiritimati",
}
_BY_NAME = {m.name.lower(): m.value for m in TimeZone}


def iana_zone(tz: TimeZone | str) -> str:
    """The IANA name for a ``TimeZone`` member, its Windows value ("W. Europe Standard Time"),
    its member name ("WEuropeStandardTime") or an IANA name zoneinfo knows ("Europe/Berlin")."""
    if isinstance(tz, TimeZone):
        return WINDOWS_TO_IANA[tz.value]
    if not isinstance(tz, str):
        raise UserErrorException(
            f"time zone {tz!r} is a {type(tz).__name__}; pass a TimeZone member "
            "(TimeZone.WEuropeStandardTime), its Windows name or an IANA name such as 'Europe/Berlin'"
        )
    windows = _BY_NAME.get(tz.lower(), tz)
    if windows in WINDOWS_TO_IANA:
        return WINDOWS_TO_IANA[windows]
    if tz and not tz.startswith(("/", ".")) and ".." not in tz:
        try:
            zoneinfo.ZoneInfo(tz)
            return tz
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            pass
    raise UserErrorException(
        f"unknown time zone {tz!r}: pass a TimeZone member (list them with "
        "[z.name for z in TimeZone]), a Windows name such as 'W. Europe Standard Time', or an IANA "
        "name from zoneinfo.available_timezones() such as 'Europe/Berlin'"
    )
