"""What each golden script must output, computed independently with pandas from the same data files.

Each case returns the expected rows as Python values; `cs` renders them as U-SQL's outputters do
(C# ToString, the "O" date format, nulls as empty) so the test can compare them with the file.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

DATA = Path(__file__).parent


def cs(v: object, date_format: str = "%Y-%m-%dT%H:%M:%S.%f0") -> str:
    """A value as C#'s ToString() writes it in an outputter (null -> empty)."""
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() else repr(v)
    if isinstance(v, pd.Timestamp):
        return v.strftime(date_format)
    if hasattr(v, "item"):  # numpy scalars
        return cs(v.item(), date_format)
    return str(v)


def read_output(path: Path, delimiter: str = ",", header: bool = False) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(io.StringIO(f.read()), delimiter=delimiter, quotechar='"'))
    return rows[1:] if header else rows


def _nullable_int(s: pd.Series) -> pd.Series:
    return pd.Series([None if x == "" else int(x) for x in s], index=s.index, dtype=object)


def searchlog() -> pd.DataFrame:
    df = pd.read_csv(DATA / "SearchLog.tsv", sep="\t", dtype=str, keep_default_na=False)
    df["UserId"] = df["UserId"].astype(int)
    df["Start"] = pd.to_datetime(df["Start"], format="%m/%d/%Y %I:%M:%S %p")
    df["Duration"] = _nullable_int(df["Duration"])
    return df


def orders() -> pd.DataFrame:
    df = pd.read_csv(DATA / "orders.csv", dtype=str, keep_default_na=False)
    df["OrderId"] = df["OrderId"].astype(int)
    df["CustomerId"] = df["CustomerId"].astype(int)
    df["Amount"] = pd.Series(
        [None if x == "" else float(x) for x in df["Amount"]], index=df.index, dtype=object
    )
    df["OrderDate"] = pd.to_datetime(df["OrderDate"])
    # pandas cannot tell a quoted "" from an empty field: the file's row 102 has "", the others nothing
    df["Note"] = [
        None if (n == "" and oid != 102) or n == "#NULL#" else n
        for n, oid in zip(df["Note"], df["OrderId"], strict=True)
    ]
    return df


def customers() -> pd.DataFrame:
    df = pd.read_csv(
        DATA / "customers.csv",
        header=None,
        names=["CustomerId", "Name", "Country"],
        dtype=str,
        keep_default_na=False,
    )
    df["CustomerId"] = df["CustomerId"].astype(int)
    df["Country"] = df["Country"].map(lambda x: x or None)
    return df


def rows(df: pd.DataFrame, cols: list[str]) -> list[list[object]]:
    return [
        [None if (v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v))) else v for v in r]
        for r in df[cols].itertuples(index=False, name=None)
    ]


@dataclass
class Case:
    script: str
    output: str  # the script's OUTPUT path
    compute: Callable[[], list[list[object]]]
    ordered: bool = False
    delimiter: str = ","
    header: list[str] | None = None
    date_format: str = "%Y-%m-%dT%H:%M:%S.%f0"


def _c01():
    return rows(searchlog(), ["UserId", "Start", "Region", "Query", "Duration", "Urls", "ClickedUrls"])


def _c02():
    s = searchlog()
    d = s["Duration"]
    keep = d.isna() | ((s["Region"] != "en-gb") & d.map(lambda x: x is not None and x > 200))
    return rows(s[keep], ["UserId", "Region", "Duration"])


def _c03():
    s = searchlog()
    out = []
    for region, g in sorted(s.groupby("Region"), key=lambda kv: kv[0]):
        if len(g) <= 1:
            continue
        timed = [x for x in g["Duration"] if x is not None]
        out.append(
            [region, len(g), len(timed), sum(timed), sum(timed) / len(timed), min(timed), g["Start"].max()]
        )
    return out


def _c04():
    s = searchlog()
    s = s[s["Duration"].notna()].copy()
    s["Duration"] = s["Duration"].astype(int)
    return rows(s.sort_values("Duration", ascending=False).head(3), ["UserId", "Query", "Duration"])


def _c05():
    s = searchlog()
    urls = s.assign(Url=s["Urls"].str.split(";")).explode("Url")
    urls = urls[urls["Url"].str.startswith("wikipedia") | urls["Url"].str.contains("microsoft")]
    counts = urls.groupby("Url").size().sort_index()
    return [[u, int(n)] for u, n in counts.items()]


def _c06():
    out = []
    for r in searchlog().itertuples():
        q = r.Query
        out.append(
            [
                r.UserId,
                r.Region[:2].upper(),
                r.Region[3:],
                len(q),
                q.find(" "),
                q.replace(" ", "_"),
                q.strip(),
                "plural" if q.endswith("s") else "singular",
                "how" in q.lower(),
                f"[{r.Region}]" + ("" if r.Duration is None else str(r.Duration)),
            ]
        )
    return out


def _c07():
    s = searchlog()
    s = s[s["Start"].dt.day >= 16]
    cutoff = pd.Timestamp("2012-02-16 11:54:00")
    return [
        [r.UserId, r.Start.year, r.Start.month, r.Start.day, r.Start.hour, r.Start, r.Start > cutoff]
        for r in s.itertuples()
    ]


def _c08():
    o, c = orders(), customers()
    per = c.merge(o, on="CustomerId", how="left")
    out = []
    for (cid, name), g in per.groupby(["CustomerId", "Name"], sort=True):
        amounts = [a for a in g["Amount"] if a is not None and not (isinstance(a, float) and math.isnan(a))]
        out.append([cid, name, int(g["OrderId"].notna().sum()), sum(amounts) if amounts else None])
    return out


def _c08_joined():
    o, c = orders(), customers()
    j = o.merge(c, on="CustomerId", how="inner")
    j = j[j["Status"] != "cancelled"].sort_values("OrderId")
    return rows(j, ["OrderId", "Name", "Country", "Amount"])


def _c09_full():
    o, c = orders(), customers()
    j = o.merge(c.assign(KnownCustomer=c["CustomerId"]), on="CustomerId", how="outer")
    j = j[j["OrderId"].isna() | j["KnownCustomer"].isna()]
    return [
        [None if pd.isna(a) else int(a), None if pd.isna(b) else int(b)]
        for a, b in zip(j["OrderId"], j["KnownCustomer"], strict=True)
    ]


def _c09():
    statuses = orders()["Status"].drop_duplicates()
    countries = customers()["Country"].dropna().drop_duplicates()
    return [[s, k] for s in statuses for k in countries]


def _shipped_and_us():
    o, c = orders(), customers()
    return list(o[o["Status"] == "shipped"]["CustomerId"]), list(c[c["Country"] == "US"]["CustomerId"])


def _c10_all():
    a, b = _shipped_and_us()
    return [[x] for x in a + b]


def _c10():
    a, b = _shipped_and_us()
    return [[x] for x in dict.fromkeys(a + b)]


def _c11():
    good = []
    with open(DATA / "orders_bad.csv", newline="") as f:
        for fields in csv.reader(f):
            if len(fields) != 5:
                continue
            try:
                good.append(
                    [int(fields[0]), int(fields[1]), float(fields[2]), pd.Timestamp(fields[3]), fields[4]]
                )
            except ValueError:
                continue
    return good


def _c12():
    df = pd.read_csv(DATA / "stores.txt", sep="|", dtype=str, keep_default_na=False)
    out = []
    for r in df.itertuples(index=False):
        sales = None if r.Sales == "#NULL#" else float(r.Sales)
        out.append(
            [
                r.Store,
                r.City,
                "NA" if sales is None else cs(sales),
                r.Open.lower() == "true",
                (sales if sales is not None else 0.0) * 2,
            ]
        )
    return out


def _c13():
    out = []
    for r in orders().sort_values("OrderId").itertuples():
        note = None if pd.isna(r.Note) else r.Note
        out.append([r.OrderId, note, note == "", note is None])
    return out


def _c14():
    out = []
    for r in searchlog().itertuples():
        d = r.Duration
        kind = "long" if d is not None and d >= 100 else ("unknown" if d is None else "short")
        out.append([r.UserId, "C:\\logs\\" + r.Region + "\t.log", kind, 'say "hi"'])
    return out


def _c15():
    import numpy as np

    t = [(1, "7", 2.5, 10), (2, "-3", 3.5, None), (3, "12", -2.5, 7)]
    out = []
    for i, text, real, maybe in t:
        n = int(text)
        out.append(
            [
                i,
                n,
                int(n / 2),
                int(math.fmod(n, 5)),
                int(real),
                int(np.round(real)),
                float(np.round(real)),
                real / 2,
                i / 4,
                -1 if maybe is None else maybe,
                float(text) + i,
            ]
        )
    return out


def _c16():
    o, c = orders(), customers()
    return rows(c[c["CustomerId"].isin(o["CustomerId"])], ["CustomerId", "Name"])


def _c16_idle():
    o, c = orders(), customers()
    return rows(c[~c["CustomerId"].isin(o["CustomerId"])], ["CustomerId"])


def _c17():
    s = searchlog()
    s = s[s["Region"].isin(["en-us", "en-gb", "en-ca"]) & s["UserId"].between(300000, 700000)]
    return [[region, g["UserId"].nunique(), len(region)] for region, g in s.groupby("Region")]


CASES = [
    Case("01_searchlog_passthrough.usql", "/output/01.csv", _c01),
    Case("02_where_null_equality.usql", "/output/02.csv", _c02),
    Case(
        "03_groupby_having.usql",
        "/output/03.csv",
        _c03,
        ordered=True,
        header=["Region", "Queries", "Timed", "TotalDuration", "AvgDuration", "MinDuration", "LastStart"],
    ),
    Case("04_order_by_fetch.usql", "/output/04.tsv", _c04, ordered=True, delimiter="\t"),
    Case("05_explode_urls.usql", "/output/05.csv", _c05, ordered=True, header=["Url", "Users"]),
    Case("06_string_methods.usql", "/output/06.csv", _c06),
    Case("07_dates.usql", "/output/07.csv", _c07, date_format="%Y-%m-%d %H:%M:%S"),
    Case(
        "08_inner_left_join.usql",
        "/output/08.csv",
        _c08,
        ordered=True,
        header=["CustomerId", "Name", "Orders", "Total"],
    ),
    Case("08_inner_left_join.usql", "/output/08_joined.csv", _c08_joined, ordered=True),
    Case("09_full_and_cross_join.usql", "/output/09.csv", _c09),
    Case("09_full_and_cross_join.usql", "/output/09_full.csv", _c09_full),
    Case("10_union.usql", "/output/10.csv", _c10),
    Case("10_union.usql", "/output/10_all.csv", _c10_all),
    Case("11_silent_bad_rows.usql", "/output/11.csv", _c11),
    Case("12_text_nullescape_bool.usql", "/output/12.txt", _c12, delimiter="|"),
    Case(
        "13_quoting.usql",
        "/output/13.csv",
        _c13,
        ordered=True,
        header=["OrderId", "Note", "EmptyNote", "NullNote"],
    ),
    Case("14_declare_verbatim.usql", "/output/14.csv", _c14),
    Case("15_values_casts_math.usql", "/output/15.csv", _c15),
    Case("16_semijoin_antisemijoin.usql", "/output/16.csv", _c16),
    Case("16_semijoin_antisemijoin.usql", "/output/16_idle.csv", _c16_idle),
    Case("17_distinct_count_in_between.usql", "/output/17.csv", _c17),
]


def expected_lines(case: Case) -> list[list[str]]:
    return [[cs(v, case.date_format) for v in row] for row in case.compute()]


def check(case: Case, path: Path) -> None:
    """Compare the file a script wrote with the pandas result (order too when the OUTPUT orders)."""
    text = path.read_bytes().decode("utf-8")
    assert text == "" or text.endswith("\r\n"), "U-SQL outputters end every row with \\r\\n"
    got = read_output(path, case.delimiter, header=False)
    if case.header is not None:
        assert got[0] == case.header
        got = got[1:]
    if case.delimiter == "|":  # Text(quoting: false): a value holding the delimiter splits on read
        got = [r[:1] + ["|".join(r[1:-3])] + r[-3:] if len(r) > 5 else r for r in got]
    if case.script.startswith("13_"):  # a null is written as nothing, an empty string as ""
        assert "\r\n101,,False,True\r\n" in text and '\r\n102,"",True,False\r\n' in text
    want = expected_lines(case)
    if not case.ordered:
        got, want = sorted(got), sorted(want)
    assert got == want
