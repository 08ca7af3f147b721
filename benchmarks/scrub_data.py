"""Generate the scrub benchmark's data: a realistic prospect file, a store with a history, a campaign.

`python benchmarks/scrub_data.py --rows 10000000 --out /tmp/pg-bench` writes, the same for a given
--rows (fixed seed), into the output directory:

- `prospects.csv`: a French CRM export as Excel saves it (`;`, Windows-1252, CRLF): accented names,
  civilité matching the first name, a city and postcode matching the number's territory (postcode empty
  for 20 %), ~3 % quoted names holding `;`, ~0.1 % quoted cities holding a line break. Numbers in the
  writings people use (06 12 34 56 78, 06.12.34.56.78, 06-12-..., 0612345678, +33 6 12 34 56 78,
  +33612345678, 0033612345678, 33612345678, +33 (0)6 12 34 56 78; overseas in national and E.164 form):
  ~63 % metro mobiles 06/07, ~27 % fixed 01-05, ~5 % 09, 4 % overseas (Réunion, Guadeloupe, Martinique,
  Guyane, Mayotte), 0.3 % 08 numbers, 0.3 % foreign (+32, +41, +44), 0.1 % unusable ("", "NC", too
  short). Every French number is valid for `phonenumbers` (with its country code) and for our plan;
  NPV ranges (E3) are left out, prospects do not have them. Exactly 2 % of the rows are malformed (a
  `;` missing or one too many) and exactly 1 % repeat an earlier row's number, often written another way;
  all other numbers are distinct.
- `store.db`: a SQLite store made by `Store.open` (the real migrations), organisation `default` with
  the campaign's caller number, then, for 10 million rows and proportionally otherwise, 2,000,000
  opposition events (1 % later lifted), 1,000,000 consents (proof sha256, collected over 2 years,
  voice/sms/all, a quarter with an expiry, 2 % withdrawn), 500,000 attempts over the last 60 days
  (some `refused`, a few `opposed` with their opposition and withdrawal as `record_attempt` writes
  them), 20,000 contracts and one Bloctel snapshot of 500,000 numbers (2026-08-01, the last before the
  list ended; half are file numbers that have a history anyway). 25 % of the file's valid numbers have a
  history (opposition 15 %, consent 10 %, attempts 5 %, overlapping); the other store numbers are not in
  the file.
- `campaign.toml`: a consumer voice campaign in December 2026.

Why it is fast (10 million rows in about a minute on two cores): the file is built in blocks of
columns with Arrow compute and written as bytes; the facts go in one transaction, in chunks of
executemany of the INSERT that SQLAlchemy Core compiles for each schema table, not one API call per fact.
Instants are formatted in bulk and checked against the columns' own bind processor, so the rows hold
what the Store API writes. The store's "now" is fixed (2026-11-28 12:00 UTC); only the `recorded_at` of
the organisation and of its settings, written by the API itself, is the real clock.

For a quick benchmark run, generate a smaller file (e.g. --rows 200000) into another directory.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import islice, repeat
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Table
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Connection

from prospectguard.store import Store
from prospectguard.store.schema import (
    attempts,
    bloctel_numbers,
    bloctel_snapshots,
    consent_withdrawals,
    consents,
    contracts,
    opposition_events,
)

I64 = npt.NDArray[np.int64]
SEED = 20261128
FULL = 10_000_000  # the row count the store sizes below are given for
OPPOSITIONS, CONSENTS, ATTEMPTS, CONTRACTS, BLOCTEL = 2_000_000, 1_000_000, 500_000, 20_000, 500_000
MALFORMED, REPEATED = 0.02, 0.01
BLOCK = 500_000  # rows per block of the file
CHUNK = 50_000  # rows per executemany
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)  # the store's "today"; the campaign starts 3 days later
US = 1_000_000
DAY = 86_400 * US
NOW_US = int(NOW.timestamp()) * US
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SQLITE = SQLiteDialect_pysqlite()  # the store's dialect: `instants` formats as its DATETIME does
CALLER = "+33162000001"
HEADER = "id;civilité;nom;prénom;téléphone;code_postal;ville;email"
CAMPAIGN = """organisation = "default"
channel = "voice"
automated = false
audience = "consumer"
sector = "general"
caller = "+33162000001"
about_contract = false
start = "2026-12-01T09:00:00+01:00"
end = "2026-12-31T20:00:00+01:00"
"""


def words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


def prefixes(spec: str) -> tuple[str, ...]:
    """National significant number prefixes: "692 693:00-06,10" is 692, 69300..69306 and 69310."""
    out: list[str] = []
    for item in spec.split():
        head, _, ranges = item.partition(":")
        if not ranges:
            out.append(head)
            continue
        for part in ranges.split(","):
            lo, _, hi = part.partition("-")
            out += [f"{head}{d:02d}" for d in range(int(lo), int(hi or lo) + 1)]
    return tuple(out)


@dataclass(frozen=True)
class Kind:
    """A kind of number in the file: its share of rows, country code, prefixes and territory."""

    name: str
    share: float  # % of rows
    cc: str  # country code; "" for the kinds written by `special_phone`
    nsn: tuple[str, ...]  # prefixes of the 9-digit national significant number
    place: str  # key of PLACES
    overseas: bool = False


# Prefixes valid both for phonenumbers and for our plan (plan_fr.csv), without the NPV ranges (E3),
# the 0262/0269/0590/0594/0596 overseas fixed ranges in the metro kinds and 0400-0409 (unassigned).
KINDS = (
    Kind("06", 43.5, "33", prefixes("6:00-38,40-89"), "metro"),
    Kind("07", 20.0, "33", prefixes("7:30-99"), "metro"),
    Kind("01", 7.0, "33", prefixes("1:00-61,64-99"), "01"),
    Kind("02", 5.0, "33", prefixes("2:00-61,64-67,72-99"), "02"),
    Kind("03", 5.0, "33", prefixes("3:00-76,79-99"), "03"),
    Kind("04", 5.0, "33", prefixes("4:10-23,26-99"), "04"),
    Kind("05", 4.5, "33", prefixes("5:00-07,09-67,70-89,91-93,95,97,99"), "05"),
    Kind("09", 5.3, "33", prefixes("9:00-36,40-46,50-99"), "metro"),
    Kind("RE mobile", 1.3, "262", prefixes("692 693:00-06,10-13,20-22,30-33,39-55,60-66,70-73,77,80-88"), "RE", True),
    Kind("RE fixed", 0.35, "262", prefixes("262"), "RE", True),
    Kind("GP mobile", 0.6, "590", prefixes("690"), "GP", True),
    Kind("GP fixed", 0.2, "590", prefixes("590:00-66,68-70,77-99"), "GP", True),
    Kind("MQ mobile", 0.55, "596", prefixes("696 697"), "MQ", True),
    Kind("MQ fixed", 0.2, "596", prefixes("596:00-10,15,27-83,89-90,94-99"), "MQ", True),
    Kind("GF mobile", 0.35, "594", prefixes("694:00-38,40-49,90-99"), "GF", True),
    Kind("GF fixed", 0.1, "594", prefixes("594:00-15,20-49,56-63,80,90-99"), "GF", True),
    Kind("YT mobile", 0.3, "262", prefixes("639:00-07,09-11,19-30,39-40,50,55-79,90,94-97,99"), "YT", True),
    Kind("YT fixed", 0.05, "262", prefixes("269:00-04,06-07,15,50-54,60-70,80"), "YT", True),
    Kind("08", 0.3, "", (), "metro"),
    Kind("BE", 0.1, "", (), "BE"),
    Kind("CH", 0.1, "", (), "CH"),
    Kind("UK", 0.1, "", (), "UK"),
    Kind("unusable", 0.1, "", (), "metro"),
)
FRENCH = sum(1 for k in KINDS if k.cc)  # the kinds with a number of their own come first
PLACES = {
    "01": "Paris 75011, Paris 75015, Paris 75018, Paris 75020, Boulogne-Billancourt 92100, Saint-Denis 93200, "
    "Montreuil 93100, Versailles 78000, Créteil 94000, Nanterre 92000, Argenteuil 95100, "
    "Évry-Courcouronnes 91000, Meaux 77100, Vitry-sur-Seine 94400",
    "02": "Nantes 44000, Rennes 35000, Brest 29200, Caen 14000, Rouen 76000, Le Havre 76600, Angers 49000, "
    "Le Mans 72000, Tours 37000, Orléans 45000, Saint-Nazaire 44600, Quimper 29000",
    "03": "Lille 59000, Roubaix 59100, Strasbourg 67000, Reims 51100, Metz 57000, Nancy 54000, Dijon 21000, "
    "Besançon 25000, Amiens 80000, Mulhouse 68100, Troyes 10000, Colmar 68000",
    "04": "Marseille 13001, Marseille 13008, Lyon 69003, Lyon 69007, Nice 06000, Montpellier 34000, "
    "Grenoble 38000, Saint-Étienne 42000, Toulon 83000, Nîmes 30000, Aix-en-Provence 13100, Avignon 84000, "
    "Ajaccio 20000, Annecy 74000, Villeurbanne 69100",
    "05": "Bordeaux 33000, Toulouse 31000, Pau 64000, Limoges 87000, Poitiers 86000, La Rochelle 17000, "
    "Bayonne 64100, Périgueux 24000, Mérignac 33700, Agen 47000, Tarbes 65000",
    "RE": "Saint-Denis 97400, Saint-Pierre 97410, Le Tampon 97430, Saint-Paul 97460, Saint-André 97440",
    "GP": "Pointe-à-Pitre 97110, Les Abymes 97139, Baie-Mahault 97122, Basse-Terre 97100, Le Gosier 97190",
    "MQ": "Fort-de-France 97200, Le Lamentin 97232, Le Robert 97231, Schœlcher 97233",
    "GF": "Cayenne 97300, Kourou 97310, Matoury 97351, Saint-Laurent-du-Maroni 97320",
    "YT": "Mamoudzou 97600, Koungou 97690, Dzaoudzi 97615",
    "BE": "Bruxelles 1000, Liège 4000, Namur 5000",
    "CH": "Genève 1201, Lausanne 1003",
    "UK": "Londres SW1A 1AA, Manchester M1 1AE",
}
PLACES["metro"] = ", ".join(PLACES[k] for k in ("01", "02", "03", "04", "05"))
MEN = words(
    "Jean Pierre Michel François Jérôme Loïc Noël Benoît Hervé Stéphane Frédéric Gaël Jean-François "
    "Thierry Nicolas Léo Mathéo Raphaël Clément Rémi Joël Anthony Cédric Jérémy"
)
WOMEN = words(
    "Marie Zoé Élodie Hélène Chloé Léa Anaïs Céline Mélanie Agnès Françoise Geneviève Maëlle Noémie Inès "
    "Léna Camille Émilie Cécile Béatrice Sandrine Nathalie Sophie Aurélie"
)
SURNAMES = words(
    "Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Leroy,Moreau,Simon,Laurent,Lefèvre,Michel,"
    "Garcia,David,Bertrand,Roux,Vincent,Fournier,Morel,Girard,André,Lefebvre,Mercier,Dupont,Lambert,"
    "Bonnet,François,Martinez,Legrand,Garnier,Faure,Rousseau,Blanc,Guérin,Muller,Henry,Roussel,Perrin,"
    "Morin,Mathieu,Clément,Gauthier,Dumont,Lopez,Fontaine,Chevalier,Robin,Le Gall,Le Goff,Hoarau,Payet,"
    "Grondin,Béranger,Ménard,Noël,Lemaître,Brûlé,Després,Lecœur,D'Almeida,N'Diaye,Nguyen,Da Silva,Müller,"
    "Gonçalves",
    ",",
)
DOMAINS = words(
    "gmail.com " * 6 + "orange.fr " * 4 + "hotmail.fr " * 2 + "free.fr " * 2 + "sfr.fr wanadoo.fr laposte.net yahoo.fr"
)
# Writings: (share, how); `how` names a column built by `writings`.
METRO_WRITINGS = (
    (0.33, "pairs"),
    (0.20, "compact"),
    (0.08, "dots"),
    (0.04, "dashes"),
    (0.10, "+33 pairs"),
    (0.12, "+33"),
    (0.045, "0033"),
    (0.045, "33"),
    (0.04, "+33 (0)"),
)
OVERSEAS_WRITINGS = (
    (0.33, "pairs"),
    (0.18, "compact"),
    (0.10, "0692 pairs"),
    (0.04, "dots"),
    (0.23, "+cc"),
    (0.08, "+cc spaced"),
    (0.04, "00cc"),
)
WRITING_NAMES = tuple(dict.fromkeys(h for _, h in METRO_WRITINGS + OVERSEAS_WRITINGS))
SPECIAL = len(WRITING_NAMES)  # the index of the column written in Python for 08, foreign and unusable numbers


def ascii_lower(text: str) -> str:
    """An e-mail's local part from a name: no accents, spaces or apostrophes."""
    plain = unicodedata.normalize("NFKD", text.replace("œ", "oe")).encode("ascii", "ignore").decode()
    return plain.lower().replace(" ", "").replace("'", "")


def draw_numbers(rng: np.random.Generator, kind: npt.NDArray[np.int8]) -> I64:
    """A national significant number per row of a French kind (0 for the others), all distinct: draw
    10 % more than needed, keep the distinct ones (one sort), take a random subset of them."""
    nsn = np.zeros(len(kind), dtype=np.int64)
    for k in range(FRENCH):
        at = np.flatnonzero(kind == k)
        lengths = np.array([len(p) for p in KINDS[k].nsn])
        cap = 10 ** (9 - lengths)
        if len(at) > cap.sum() // 4:
            raise ValueError(f"too many rows for the {KINDS[k].name} numbers; use fewer --rows")
        base = np.array([int(p) for p in KINDS[k].nsn], dtype=np.int64) * cap
        distinct = np.zeros(0, dtype=np.int64)
        while len(distinct) < len(at):
            pick = rng.choice(len(cap), size=len(at) + len(at) // 10 + 100, p=cap / cap.sum())
            distinct = np.unique(np.concatenate([distinct, base[pick] + rng.integers(0, cap[pick])]))
        nsn[at] = rng.permutation(distinct)[: len(at)]
    return nsn


def special_phone(kind: str, row: int, how: int) -> str:
    """The writings of the numbers that are not French subscriber numbers; `how` picks a range and a
    writing. The row gives 7 digits, distinct for distinct rows below 10 million, so that these
    numbers never repeat by chance (the file's repeats are exactly the chosen 1 %)."""
    d = f"{row * 7_654_321 % 10**7:07d}"
    if kind == "08":
        national = ("080", "080", "081", "082", "089")[how % 5] + d
        pairs = " ".join(national[i : i + 2] for i in range(0, 10, 2))
        spaced = f"{national[0]} {national[1:4]} {national[4:6]} {national[6:8]} {national[8:]}"  # 0 800 12 34 56
        return (pairs, national, spaced)[how // 5 % 3]
    if kind == "BE":  # Belgian mobiles 047x-049x
        head = f"4{7 + how % 3}"
        return (f"+32 {head}{d[0]} {d[1:3]} {d[3:5]} {d[5:7]}", f"0032{head}{d}")[how // 3 % 2]
    if kind == "CH":  # Swiss mobiles 076-079
        head = f"7{6 + how % 4}"
        return (f"+41 {head} {d[:3]} {d[3:5]} {d[5:7]}", f"+41{head}{d}")[how // 4 % 2]
    if kind == "UK":  # British mobiles 075xx, 078xx
        head = f"7{5 + 3 * (how % 2)}{how // 2 % 10}"
        return (f"+44 {head}{d[0]} {d[1:]}", f"+44{head}{d}")[how // 20 % 2]
    return ("", "NC", f"06 {d[0:2]} {d[2:4]} {d[4:6]}", "0" + d, "inconnu")[how % 5]  # unusable


def writings(nsn: Any, cc: Any) -> dict[str, Any]:
    """Every writing of every number of a block, as Arrow columns (one is then chosen per row)."""
    j = pc.binary_join_element_wise
    s = nsn.cast(pa.string())
    p = [pc.utf8_slice_codeunits(s, a, a + 2) for a in (1, 3, 5, 7)]
    first = pc.utf8_slice_codeunits(s, 0, 1)
    national0 = j("0", first, "")
    head3 = pc.utf8_slice_codeunits(s, 0, 3)
    return {
        "pairs": j(national0, *p, " "),
        "compact": j("0", s, ""),
        "dots": j(national0, *p, "."),
        "dashes": j(national0, *p, "-"),
        "+33 pairs": j("+33", first, *p, " "),
        "+33": j("+33", s, ""),
        "0033": j("0033", s, ""),
        "33": j("33", s, ""),
        "+33 (0)": j(j("+33 (0)", first, ""), *p, " "),
        "0692 pairs": j(j("0", head3, ""), *p[1:], " "),
        "+cc": j("+", cc, s, ""),
        "+cc spaced": j(j("+", cc, ""), head3, *p[1:], " "),
        "00cc": j("00", cc, s, ""),
    }


class File:
    """The prospect file's rows: kinds, numbers, malformed and repeated rows, chosen for the whole file."""

    def __init__(self, rows: int, extra: int, rng: np.random.Generator) -> None:
        share = np.array([k.share for k in KINDS])
        self.rows = rows
        kind = rng.choice(len(KINDS), size=rows, p=share / share.sum()).astype(np.int8)
        french = share[:FRENCH] / share[:FRENCH].sum()
        outside = rng.choice(FRENCH, size=extra, p=french).astype(np.int8)  # store numbers not in the file
        nsn = draw_numbers(rng, np.concatenate([kind, outside]))
        self.outside_kind, self.outside_nsn = outside, nsn[rows:]
        self.kind, self.nsn = kind, nsn[:rows]
        # Exactly 2 % malformed: 1 a field short (no `;` between nom and prénom), 2 one too many.
        self.bad = np.zeros(rows, dtype=np.int8)
        bad = rng.choice(rows, size=round(MALFORMED * rows), replace=False)
        self.bad[bad] = rng.integers(1, 3, size=len(bad))
        # Exactly 1 % repeat the number of an earlier well-formed row (itself not a repeat).
        ok = np.flatnonzero((kind < FRENCH) & (self.bad == 0))
        self.repeat = np.zeros(rows, dtype=bool)
        if len(ok) > 1:
            dup = np.sort(rng.choice(ok[1:], size=min(round(REPEATED * rows), len(ok) - 1), replace=False))
            self.repeat[dup] = True
            src = ok[~self.repeat[ok]]
            before = np.searchsorted(src, dup)  # >= 1: ok[0] is never a repeat
            chosen = src[(rng.random(len(dup)) * before).astype(np.int64)]
            self.kind[dup], self.nsn[dup] = self.kind[chosen], self.nsn[chosen]

    def valid(self) -> tuple[npt.NDArray[np.int8], I64]:
        """The distinct numbers of the well-formed rows (kind, nsn), in file order."""
        keep = (self.kind < FRENCH) & (self.bad == 0) & ~self.repeat
        return self.kind[keep], self.nsn[keep]

    def write(self, path: Path, rng: np.random.Generator) -> None:
        cities: list[str] = []
        postcodes: list[str] = []
        place_at: dict[str, int] = {}
        place_len: dict[str, int] = {}
        for key, text in PLACES.items():
            place_at[key] = len(cities)
            for entry in text.split(", "):
                city, _, postcode = entry.partition(" ") if key == "UK" else entry.rpartition(" ")
                cities.append(city)
                postcodes.append(postcode)
            place_len[key] = len(cities) - place_at[key]
        kind_at = np.array([place_at[k.place] for k in KINDS])
        kind_len = np.array([place_len[k.place] for k in KINDS])
        firsts = MEN + WOMEN
        vocab = {
            "first": pa.array(firsts),
            "first_ascii": pa.array([ascii_lower(f) for f in firsts]),
            "last": pa.array(SURNAMES),
            "last_ascii": pa.array([ascii_lower(s) for s in SURNAMES]),
            "city": pa.array(cities),
            "postcode": pa.array(postcodes),
            "domain": pa.array(DOMAINS),
            "civ": pa.array(["M.", "Mme", "Mlle", ""]),
            "cc": pa.array([k.cc or "33" for k in KINDS]),
        }
        metro_p = np.array([w for w, _ in METRO_WRITINGS])
        metro_i = np.array([WRITING_NAMES.index(h) for _, h in METRO_WRITINGS], dtype=np.int8)
        over_p = np.array([w for w, _ in OVERSEAS_WRITINGS])
        over_i = np.array([WRITING_NAMES.index(h) for _, h in OVERSEAS_WRITINGS], dtype=np.int8)
        overseas = np.array([k.overseas for k in KINDS])
        with path.open("wb") as f:
            f.write((HEADER + "\r\n").encode("cp1252"))
            for start in range(0, self.rows, BLOCK):
                stop = min(start + BLOCK, self.rows)
                f.write(
                    self._block(
                        start, stop, rng, vocab, kind_at, kind_len, (metro_p, metro_i, over_p, over_i), overseas
                    )
                )

    def _block(
        self,
        start: int,
        stop: int,
        rng: np.random.Generator,
        vocab: dict[str, Any],
        kind_at: I64,
        kind_len: I64,
        ways: tuple[Any, ...],
        overseas: npt.NDArray[np.bool_],
    ) -> bytes:
        """One block of rows as Windows-1252 bytes."""
        n = stop - start
        j = pc.binary_join_element_wise
        kind, nsn, bad = self.kind[start:stop], self.nsn[start:stop], self.bad[start:stop]
        take = pc.take
        # Who: civilité first (it decides the first name), a rare empty one.
        gender = rng.choice(4, size=n, p=[0.47, 0.455, 0.025, 0.05])  # M., Mme, Mlle, none
        female = (gender == 1) | (gender == 2) | ((gender == 3) & (rng.random(n) < 0.5))
        first_i = np.where(female, len(MEN) + rng.integers(0, len(WOMEN), n), rng.integers(0, len(MEN), n))
        last_i = rng.integers(0, len(SURNAMES), n)
        first, last = take(vocab["first"], first_i), take(vocab["last"], last_i)
        # Where: a city of the number's territory; no postcode for 20 %.
        place_i = kind_at[kind] + (rng.random(n) * kind_len[kind]).astype(np.int64)
        city = take(vocab["city"], place_i)
        postcode = pc.if_else(pa.array(rng.random(n) < 0.2), "", take(vocab["postcode"], place_i))
        # E-mail: first.last[nn]@domain, none for 12 %.
        number = pa.array(rng.integers(1, 100, n)).cast(pa.string())
        suffix = pc.if_else(pa.array(rng.random(n) < 0.4), number, "")
        domain = take(vocab["domain"], rng.integers(0, len(DOMAINS), n))
        email = j(take(vocab["first_ascii"], first_i), ".", take(vocab["last_ascii"], last_i), suffix, "@", domain, "")
        email = pc.if_else(pa.array(rng.random(n) < 0.12), "", email)
        # The phone: one writing per row; the special kinds are written in Python.
        metro_p, metro_i, over_p, over_i = ways
        how = np.where(
            overseas[kind],
            over_i[rng.choice(len(over_p), n, p=over_p)],
            metro_i[rng.choice(len(metro_p), n, p=metro_p)],
        )
        special = kind >= FRENCH
        how[special] = SPECIAL
        columns = writings(pa.array(nsn), take(vocab["cc"], kind))
        texts: list[str | None] = [None] * n
        variant = rng.integers(0, 60, n)
        for i in np.flatnonzero(special).tolist():
            texts[i] = special_phone(KINDS[kind[i]].name, start + i, int(variant[i]))
        phone = pc.choose(
            pa.array(how.astype(np.int8)), *[columns[w] for w in WRITING_NAMES], pa.array(texts, pa.string())
        )
        # Quoted fields (never on a malformed row): a `;` in 3 % of the names, a line break in 0.1 % of the cities.
        roll = rng.random(n)
        quoted_name = (roll < 0.03) & (bad == 0)
        quoted_city = (roll > 0.999) & (bad == 0)
        other = take(vocab["last"], rng.integers(0, len(SURNAMES), n))
        name = pc.if_else(pa.array(quoted_name), j('"', last, "; ", other, '"', ""), last)
        city = pc.if_else(pa.array(quoted_city), j('"', city, "\r\nCedex", '"', ""), city)
        ids = pa.array(np.arange(start + 1, stop + 1)).cast(pa.string())
        civ = take(vocab["civ"], gender)
        lines = j(ids, civ, name, first, phone, postcode, city, email, ";")
        if (bad > 0).any():  # the malformed rows, built apart: a `;` missing, or one too many
            at = pa.array(np.flatnonzero(bad > 0))
            fields = (ids, civ, last, first, phone, postcode, city, email, other)
            i, c, la, fi, ph, po, ci, em, ot = (take(x, at) for x in fields)
            short = j(i, c, j(la, fi, " "), ph, po, ci, em, ";")
            longer = j(i, c, la, ot, fi, ph, po, ci, em, ";")
            lines = pc.replace_with_mask(lines, pa.array(bad > 0), pc.choose(pa.array(bad[bad > 0] - 1), short, longer))
        return _buffer(j(lines, "", "\r\n")).encode("cp1252")


def _buffer(lines: Any) -> str:
    """The concatenated values of an Arrow string column, as one str (no Python object per row)."""
    lines = lines.combine_chunks() if isinstance(lines, pa.ChunkedArray) else lines
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return str(memoryview(lines.buffers()[2])[int(offsets[0]) : int(offsets[-1])], "utf-8")


# --- the store ---------------------------------------------------------------------------------------


def instants(us: I64 | npt.NDArray[np.float64], table: Table, column: str) -> list[str | None]:
    """Microseconds since the epoch (NaN for none) as the text SQLAlchemy writes for `table.column`.

    Formatted in bulk by Arrow, then the first values are checked against the column's own bind
    processor (UTCDateTime, then SQLite's DATETIME), so a format drift fails here and not in a reader.
    """
    values = np.asarray(us)
    missing = np.isnan(values) if values.dtype.kind == "f" else np.zeros(len(values), dtype=bool)
    ticks = pa.array(np.where(missing, 0, values).astype(np.int64), type=pa.timestamp("us"), mask=missing)
    out: list[str | None] = pc.strftime(ticks, "%Y-%m-%d %H:%M:%S").to_pylist()
    process = table.c[column].type.dialect_impl(SQLITE).bind_processor(SQLITE)
    if process is None:
        raise AssertionError(f"{table.name}.{column} has no bind processor: not an instant column")
    for value, text in islice(zip(values.tolist(), out, strict=True), 200):
        expected = None if text is None else process(EPOCH + timedelta(microseconds=int(value)))
        if text != expected:
            raise AssertionError(f"{table.name}.{column}: {text!r} is not what the store writes ({expected!r})")
    return out


def insert(conn: Connection, table: Table, n: int, **columns: Any) -> int:
    """Insert n rows (a column is a sequence of n values or one value for all) with executemany.

    The statement is SQLAlchemy Core's INSERT for the schema table; the values go to the driver as they
    are: instants already as the text `instants` checked, booleans as bool (stored 1/0, as the Boolean
    type binds them). SQLAlchemy's per-row parameter processing would double the store's build time.
    """
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(columns))
    order = list(compiled.positiontup or ())
    if sorted(order) != sorted(columns):
        raise AssertionError(f"{table.name}: the statement binds {order}, the rows have {sorted(columns)}")
    values = [(v.tolist() if isinstance(v, np.ndarray) else v) for v in (columns[k] for k in order)]
    if any(isinstance(v, list) and len(v) != n for v in values):
        raise AssertionError(f"{table.name}: a column does not have {n} values")
    rows = islice(zip(*(v if isinstance(v, list) else repeat(v) for v in values), strict=False), n)
    count = 0
    while chunk := list(islice(rows, CHUNK)):
        conn.exec_driver_sql(compiled.string, chunk)
        count += len(chunk)
    return count


def e164s(kind: npt.NDArray[np.int8], nsn: I64) -> list[str]:
    cc = pa.array(["+" + (k.cc or "33") for k in KINDS])
    result: list[str] = pc.binary_join_element_wise(pc.take(cc, kind), pa.array(nsn).cast(pa.string()), "").to_pylist()
    return result


def uniform_us(rng: np.random.Generator, n: int, days_ago_min: float, days_ago_max: float) -> I64:
    """Instants between the given numbers of days before NOW, to the microsecond."""
    ago = rng.uniform(days_ago_min * DAY, days_ago_max * DAY, n).astype(np.int64)
    return NOW_US - ago


def sorted_by(at: I64, *columns: Any) -> list[Any]:
    """Rows in the order they were written: oldest first (ids grow with time, as in a live store)."""
    order = np.argsort(at, kind="stable")
    return [np.asarray(c)[order] if not isinstance(c, list) else [c[i] for i in order.tolist()] for c in (at, *columns)]


def build_store(path: Path, file: File, rng: np.random.Generator) -> dict[str, int]:
    scale = file.rows / FULL
    with Store.open(f"sqlite:///{path}") as store:
        org = store.org_id("default")
        store.set_org(org, caller_numbers=[CALLER], at=NOW)
        if type(store.engine.dialect) is not type(SQLITE):
            raise AssertionError(f"expected the pysqlite dialect, got {store.engine.dialect.name}")
        kind, nsn = file.valid()
        order = rng.permutation(len(nsn))
        numbers = e164s(kind[order], nsn[order])  # the file's distinct valid numbers, shuffled
        outside = e164s(file.outside_kind, file.outside_nsn)
        v = len(numbers)

        def cut(a: float, b: float) -> list[str]:
            return numbers[round(a * v) : round(b * v)]

        # 25 % of the file have a history: opposition [0, 15 %), consent [14, 24 %), attempts [12, 14) and
        # [22, 25 %): every overlap occurs (opposition and consent, attempts and either).
        opp_file, cons_file = cut(0, 0.15), cut(0.14, 0.24)
        att_opp, att_file = cut(0.12, 0.14), cut(0.12, 0.14) + cut(0.22, 0.25)
        taken = 0

        def out(count: int) -> list[str]:
            nonlocal taken
            count = max(count, 0)
            if taken + count > len(outside):
                raise AssertionError("not enough numbers outside the file")
            taken += count
            return outside[taken - count : taken]

        opp = opp_file + out(round(OPPOSITIONS * scale) - len(opp_file))
        cons = cons_file + out(round(CONSENTS * scale) - len(cons_file))
        n_bloctel = round(BLOCTEL * scale)
        history = cut(0, 0.25)
        bloctel = [history[i] for i in rng.choice(len(history), min(n_bloctel // 2, len(history)), replace=False)]
        bloctel += out(n_bloctel - len(bloctel))
        counts: dict[str, int] = {}
        with store.engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA cache_size = -1000000")  # this connection only: random index inserts
            counts.update(_attempts_and_oppositions(conn, org, rng, opp, att_file, att_opp, scale))
            counts.update(_consents(conn, org, rng, cons))
            counts["contracts"] = _contracts(conn, org, rng, numbers, round(CONTRACTS * scale))
            counts["bloctel_numbers"] = _bloctel(conn, org, bloctel)
        counts["file_numbers_with_history"] = len(history)
        counts["file_numbers_valid"] = v
        return counts


def _attempts_and_oppositions(
    conn: Connection,
    org: int,
    rng: np.random.Generator,
    opp: list[str],
    att: list[str],
    att_opp: list[str],
    scale: float,
) -> dict[str, int]:
    """Attempts over the last 60 days; 10 % of the called numbers that also object did it during a call
    (outcome `opposed`: an opposition `call_objection` and a consent withdrawal at the same instant, as
    `record_attempt` writes them); the other oppositions come from their own sources over 3 years."""
    n = max(round(ATTEMPTS * scale), len(att))
    who = att + [att[i] for i in rng.integers(0, len(att), n - len(att))] if att else []
    n = len(who)
    day = rng.integers(0, 60, n)
    at = NOW_US - (day + 1) * DAY + rng.integers(7 * 3600, 18 * 3600, n) * US  # 8-20 h in France, roughly
    sms = rng.random(n) < 0.15
    voice_out = np.array(["no_answer", "voicemail", "answered", "busy", "failed", "refused"])
    outcome = np.where(
        sms,
        np.where(rng.random(n) < 0.9, "answered", "failed"),
        voice_out[rng.choice(6, n, p=[0.35, 0.2, 0.2, 0.08, 0.05, 0.12])],
    ).astype(object)
    objected = {x for x, r in zip(att_opp, rng.random(len(att_opp)), strict=True) if r < 0.1}
    for i, x in enumerate(who[: len(att)]):
        if x in objected:
            outcome[i], sms[i] = "opposed", False
    recorded = at + rng.integers(5, 600, n) * US  # written when the call ended
    keyed = rng.random(n) < 0.5
    at, who, outcome, sms, recorded, keyed = sorted_by(at, who, outcome.tolist(), sms, recorded, keyed)
    at_s, rec_s = instants(at, attempts, "at"), instants(recorded, attempts, "recorded_at")
    counts = {
        "attempts": insert(
            conn,
            attempts,
            n,
            org_id=org,
            e164=who,
            at=at_s,
            channel=np.where(sms, "sms", "voice"),
            outcome=outcome,
            idempotency_key=[f"dialer-{i:08d}" if k else None for i, k in enumerate(keyed.tolist())],
            recorded_at=rec_s,
        )
    }
    # Oppositions: one event per number; objections during a call carry the attempt's instant.
    during_call = {who[i]: (int(at[i]), int(recorded[i])) for i in range(n) if outcome[i] == "opposed"}
    m = len(opp)
    o_at = uniform_us(rng, m, 1, 3 * 365)
    o_rec = o_at + rng.integers(0, 300, m) * US
    sources = np.array(["import", "call_objection", "stop", "gdpr", "manual"])[
        rng.choice(5, m, p=[0.35, 0.3, 0.1, 0.1, 0.15])
    ].astype(object)
    for i, x in enumerate(opp):
        if x in during_call:
            o_at[i], o_rec[i] = during_call[x]
            sources[i] = "call_objection"
    # 1 % lifted later at the person's request (a `removal` event; the latest event wins).
    lifted = np.flatnonzero(rng.random(m) < 0.01)
    l_at = o_at[lifted] + ((NOW_US - DAY - o_at[lifted]) * rng.random(len(lifted))).astype(np.int64)
    active = np.concatenate([np.ones(m, dtype=bool), np.zeros(len(lifted), dtype=bool)])
    all_at, nums, src, act, rec = sorted_by(
        np.concatenate([o_at, l_at]),
        opp + [opp[i] for i in lifted.tolist()],
        sources.tolist() + ["removal"] * len(lifted),
        active,
        np.concatenate([o_rec, l_at + rng.integers(0, 300, len(lifted)) * US]),
    )
    at_s, rec_s = instants(all_at, opposition_events, "at"), instants(rec, opposition_events, "recorded_at")
    counts["opposition_events"] = insert(
        conn, opposition_events, len(nums), org_id=org, e164=nums, at=at_s, active=act, source=src, recorded_at=rec_s
    )
    w = sorted(during_call.items(), key=lambda item: item[1])
    w_at = np.array([t for _, (t, _) in w], dtype=np.int64)
    w_rec = np.array([r for _, (_, r) in w], dtype=np.int64)
    at_s, rec_s = instants(w_at, consent_withdrawals, "at"), instants(w_rec, consent_withdrawals, "recorded_at")
    counts["withdrawals_during_calls"] = insert(
        conn,
        consent_withdrawals,
        len(w),
        org_id=org,
        e164=[x for x, _ in w],
        at=at_s,
        source="call_objection",
        recorded_at=rec_s,
    )
    return counts


def _consents(conn: Connection, org: int, rng: np.random.Generator, cons: list[str]) -> dict[str, int]:
    """Consents over 2 years with their proof's sha256 (text or file, as `add_consent` hashes it);
    a quarter expire 1 to 3 years after collection; 2 % withdrawn later."""
    n = len(cons)
    at = uniform_us(rng, n, 1, 730)
    expires = np.where(rng.random(n) < 0.25, at + rng.integers(1, 4, n) * 365 * DAY, np.nan)
    channel = np.array(["voice", "all", "sms"])[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
    how = rng.choice(3, n, p=[0.6, 0.25, 0.15])  # web form, call recording, paper form
    recorded = at + np.where(how == 2, rng.integers(3600, 5 * 86400, n), rng.integers(1, 60, n)) * US
    at, cons, expires, channel, how, recorded = sorted_by(at, cons, expires, channel, how, recorded)
    at_s, exp_s = instants(at, consents, "collected_at"), instants(expires, consents, "expires_at")
    rec_s = instants(recorded, consents, "recorded_at")

    texts: list[str | None] = []
    names: list[str | None] = []
    sha: list[str] = []
    for i, (kind, day, number) in enumerate(zip(how.tolist(), at_s, cons, strict=True)):
        if kind == 0:
            text = f"Formulaire web du {(day or '')[:10]} : « J'accepte d'être contacté(e) par téléphone par ACME »"
            text = f"{text} (réf. C{i:08d})"
            texts.append(text)
            names.append(None)
            proof = text.encode("utf-8")  # as `add_consent` hashes a proof text
        else:
            texts.append(None)
            names.append(f"appel-{i:08d}.mp3" if kind == 1 else f"bulletin-{i:08d}.pdf")
            proof = f"{names[-1]} {number}".encode()  # stands for the file's bytes
        sha.append(hashlib.sha256(proof).hexdigest())
    counts = {
        "consents": insert(
            conn,
            consents,
            n,
            org_id=org,
            e164=cons,
            collected_at=at_s,
            channel=channel,
            expires_at=exp_s,
            method=np.array(["web form", "call recording", "paper form"])[how],
            proof_text=texts,
            proof_file_name=names,
            proof_sha256=sha,
            slot_start=None,
            slot_end=None,
            recorded_at=rec_s,
        )
    }
    gone = np.flatnonzero(rng.random(n) < 0.02)
    w_at = at[gone] + ((NOW_US - DAY - at[gone]) * rng.random(len(gone))).astype(np.int64)
    w_at, who, source = sorted_by(
        w_at, [cons[i] for i in gone.tolist()], np.array(["stop", "email", "phone"])[rng.integers(0, 3, len(gone))]
    )
    at_s = instants(w_at, consent_withdrawals, "at")
    rec_s = instants(w_at + 30 * US, consent_withdrawals, "recorded_at")
    counts["withdrawals"] = insert(
        conn, consent_withdrawals, len(who), org_id=org, e164=who, at=at_s, source=source, recorded_at=rec_s
    )
    return counts


def _contracts(conn: Connection, org: int, rng: np.random.Generator, numbers: list[str], n: int) -> int:
    """Customers' contracts (started up to 5 years ago, 30 % ended), on numbers of the file."""
    who = [numbers[i] for i in rng.choice(len(numbers), min(n, len(numbers)), replace=False)] if numbers else []
    n = len(who)
    start = uniform_us(rng, n, 30, 5 * 365)
    end = np.where(rng.random(n) < 0.3, start + ((NOW_US - DAY - start) * rng.random(n)).astype(np.int64), np.nan)
    what = np.array(["fourniture d'électricité", "abonnement box internet", "assurance habitation"])[
        rng.integers(0, 3, n)
    ]
    start, who, end, what = sorted_by(start, who, end, what)
    s_s, e_s = instants(start, contracts, "start"), instants(end, contracts, "end")
    r_s = instants(start + 3600 * US, contracts, "recorded_at")
    return insert(conn, contracts, n, org_id=org, e164=who, object=what, start=s_s, end=e_s, recorded_at=r_s)


def _bloctel(conn: Connection, org: int, numbers: list[str]) -> int:
    """The last Bloctel scrub before the list ended (A11, 2026-08-11): sorted distinct numbers, as
    `import_bloctel` writes them; the file's hash stands for the scrubbed file's."""
    distinct = sorted(set(numbers))
    sha = hashlib.sha256("\n".join(distinct).encode()).hexdigest()
    snapshot = conn.execute(
        bloctel_snapshots.insert().values(
            org_id=org,
            as_of=date(2026, 8, 1),
            file_sha256=sha,
            count=len(distinct),
            recorded_at=datetime(2026, 8, 1, 9, tzinfo=UTC),
        )
    ).inserted_primary_key
    if snapshot is None:
        raise AssertionError("the snapshot insert returned no id")
    return insert(conn, bloctel_numbers, len(distinct), snapshot_id=int(snapshot[0]), e164=distinct)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=FULL, help="rows of prospects.csv (default 10,000,000)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pg-bench"), help="output directory")
    args = parser.parse_args()
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    gc.disable()  # millions of long-lived rows: the cyclic collector would rescan them again and again
    rng = np.random.default_rng(SEED)
    t0 = time.perf_counter()
    extra = round((OPPOSITIONS + CONSENTS + BLOCTEL) * args.rows / FULL * 0.5) + 100
    file = File(args.rows, extra, rng)
    csv_path = args.out / "prospects.csv"
    file.write(csv_path, rng)
    t1 = time.perf_counter()
    db = args.out / "store.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    counts = build_store(db, file, rng)
    (args.out / "campaign.toml").write_text(CAMPAIGN, encoding="utf-8")
    t2 = time.perf_counter()
    size = csv_path.stat().st_size
    print(f"{csv_path}: {args.rows:,} rows, {size / 1e6:,.0f} MB in {t1 - t0:.1f} s")
    print(f"{db}: {', '.join(f'{k} {v:,}' for k, v in counts.items())} in {t2 - t1:.1f} s")
    print(f"{args.out / 'campaign.toml'}; total {t2 - t0:.1f} s")


if __name__ == "__main__":
    main()
