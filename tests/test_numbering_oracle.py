"""Cross-check `prospectguard.numbering.parse` against `phonenumbers` on ~120,000 generated numbers.

`phonenumbers` is the oracle, not the authority: the reference (section 4) is. Every divergence must
match one of the explicit, justified exceptions below, and every exception must occur at least once,
so the list stays honest in both directions. Run with `-s` to see the counts.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType as PNT
from phonenumbers import shortnumberinfo
from phonenumbers import timezone as pn_timezone

from prospectguard.model import NumberType, PhoneNumber
from prospectguard.numbering import parse

SEED = 20261128

# The reference's overseas prefixes (N9-N14), written here independently of plan_fr.csv.
OVERSEAS_REGION = {
    "0262": "RE",
    "0263": "RE",
    "0692": "RE",
    "0693": "RE",
    "0269": "YT",
    "0639": "YT",
    "0590": "GP",
    "0690": "GP",
    "0691": "GP",
    "0594": "GF",
    "0694": "GF",
    "0596": "MQ",
    "0696": "MQ",
    "0697": "MQ",
    "0508": "PM",
}
COUNTRY_CODE = {"FR": "33", "RE": "262", "YT": "262", "GP": "590", "GF": "594", "MQ": "596", "PM": "508"}
FRENCH_CODES = frozenset(COUNTRY_CODE.values())
OVERSEAS_CODES = FRENCH_CODES - {"33"}


@dataclass(frozen=True, slots=True)
class Sample:
    text: str
    region: str | None  # the region phonenumbers is given
    kind: str  # "number", "short" or "naive_fr" (overseas national form parsed with region FR)
    cc: str | None = None  # country code written in the text (E.164 forms)
    nsn: str = ""  # digits after the country code (E.164) or after the trunk 0 (national)
    national: str | None = None  # the national form the sample was built from


@dataclass(frozen=True, slots=True)
class Oracle:
    valid: bool
    e164: str | None = None
    type: int | None = None
    zones: tuple[str, ...] = ()


def national_sample(national: str, rng: random.Random, kind: str = "number") -> Sample:
    region = OVERSEAS_REGION.get(national[:4], "FR")
    if kind == "naive_fr":
        return Sample(national, "FR", kind, None, national[1:], national)
    if rng.random() < 0.5:
        return Sample(national, region, kind, None, national[1:], national)
    return e164_sample(national, COUNTRY_CODE[region])


def e164_sample(national: str, cc: str) -> Sample:
    nsn = national[4:] if cc == "508" else national[1:]
    return Sample(f"+{cc}{nsn}", None, "number", cc, nsn, national)


def digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def generate(seed: int = SEED) -> Iterator[Sample]:
    rng = random.Random(seed)
    # Every French 4-digit national prefix, national or E.164 form (overseas with their own code).
    for zab in range(100, 1000):
        prefix = f"0{zab}"
        for _ in range(70):
            length = 14 if prefix == "0700" and rng.random() < 0.5 else 10
            yield national_sample(prefix + digits(rng, length - 4), rng)
    # The trap: overseas national forms parsed with region FR, as a naive integration would.
    for prefix in OVERSEAS_REGION:
        for _ in range(200):
            yield national_sample(prefix + digits(rng, 6), rng, kind="naive_fr")
    # Wrong lengths.
    for _ in range(3000):
        national = "0" + rng.choice("123456789") + digits(rng, rng.choice((7, 9)))
        yield Sample(national, "FR", "number", None, national[1:], national)
    # French numbers under a French country code that is not theirs (+262 590..., +33 596...).
    prefixes = [*OVERSEAS_REGION, "01", "04", "06", "07", "09"]
    for _ in range(8000):
        prefix = rng.choice(prefixes)
        national = prefix + digits(rng, 10 - len(prefix))
        right = COUNTRY_CODE[OVERSEAS_REGION.get(national[:4], "FR")]
        yield e164_sample(national, rng.choice(sorted(FRENCH_CODES - {right})))
    # Random significant numbers under the overseas codes: finds ranges phonenumbers knows.
    # Half uniform, half from heads where phonenumbers has ranges, so rare blocks are reached.
    heads = ("709", "80", "89", "93", "94", "97", "2688", "2689", "5987", "5988", "5989", "69", "63", "26")
    for _ in range(10000):
        cc = rng.choice(("262", "590", "594", "596"))
        head = rng.choice(heads) if rng.random() < 0.5 else rng.choice("123456789")
        nsn = head + digits(rng, 9 - len(head))
        yield Sample(f"+{cc}{nsn}", None, "number", cc, nsn)
    for n, count in ((6, 2000), (9, 1000)):
        for _ in range(count):
            nsn = ("708" + digits(rng, 6)) if n == 9 and rng.random() < 0.5 else digits(rng, n)
            yield Sample(f"+508{nsn}", None, "number", "508", nsn)
    # The leading 0 lost by a spreadsheet.
    for _ in range(2000):
        nsn = rng.choice("123456789") + digits(rng, 8)
        yield Sample(nsn, "FR", "number", None, nsn, "0" + nsn)
    # Foreign numbers: perturbed example numbers of every other region, then random digits.
    regions = sorted(
        r for r in phonenumbers.SUPPORTED_REGIONS if str(phonenumbers.country_code_for_region(r)) not in FRENCH_CODES
    )
    for _ in range(12000):
        region = rng.choice(regions)
        example = phonenumbers.example_number_for_type(region, rng.choice((PNT.FIXED_LINE, PNT.MOBILE)))
        if example is None:
            continue
        nsn = str(example.national_number)
        cut = min(4, len(nsn) - 1)
        nsn = nsn[:-cut] + digits(rng, cut)
        yield Sample(f"+{example.country_code}{nsn}", None, "number", str(example.country_code), nsn)
    for _ in range(3000):
        text = rng.choice("123456789") + digits(rng, rng.randint(7, 12))
        if not text.startswith(tuple(FRENCH_CODES)):
            yield Sample("+" + text, None, "number")
    # Short numbers: every 2-4 digit one, samples of 5 and 6 digits.
    for n in range(10, 10000):
        yield Sample(str(n), "FR", "short")
    for _ in range(2000):
        yield Sample(rng.choice("123456789") + digits(rng, 4), "FR", "short")
    for _ in range(2000):
        head = rng.choice(("116", "118", rng.choice("123456789") + digits(rng, 2)))
        yield Sample(head + digits(rng, 3), "FR", "short")


def ask_oracle(sample: Sample) -> Oracle:
    try:
        num = phonenumbers.parse(sample.text, sample.region)
    except phonenumbers.NumberParseException:
        return Oracle(False)
    if sample.kind == "short":
        return Oracle(shortnumberinfo.is_valid_short_number_for_region(num, "FR"))
    if not phonenumbers.is_valid_number(num):
        return Oracle(False)
    return Oracle(
        True,
        phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164),
        phonenumbers.number_type(num),
        tuple(pn_timezone.time_zones_for_number(num)),
    )


# Our type -> the phonenumbers types that mean the same thing.
SAME_TYPE: dict[NumberType, frozenset[int]] = {
    NumberType.FIXED: frozenset({PNT.FIXED_LINE, PNT.FIXED_LINE_OR_MOBILE}),
    NumberType.MOBILE: frozenset({PNT.MOBILE, PNT.FIXED_LINE_OR_MOBILE}),
    NumberType.POLYVALENT: frozenset({PNT.VOIP}),
    NumberType.SPECIAL_FREE: frozenset({PNT.TOLL_FREE}),
    NumberType.SPECIAL_STANDARD: frozenset({PNT.UAN}),
    NumberType.SPECIAL_PREMIUM: frozenset({PNT.PREMIUM_RATE, PNT.SHARED_COST}),
}


def divergences(sample: Sample, ours: PhoneNumber, theirs: Oracle) -> list[str]:
    """The aspects on which we and the oracle disagree: validity, E.164, zone, type."""
    if sample.kind == "short":
        ours_valid = ours.type in (NumberType.SHORT, NumberType.EMERGENCY)
        return [] if ours_valid == theirs.valid else ["valid"]
    if ours.valid != theirs.valid:
        return ["valid"]
    if not ours.valid:
        return []
    out = []
    if ours.e164 != theirs.e164:
        out.append("e164")
    if ours.type is NumberType.FOREIGN:
        zone = theirs.zones[0] if theirs.zones and theirs.zones[0] != pn_timezone.UNKNOWN_TIMEZONE else None
        if ours.timezone != zone:
            out.append("zone")
    else:
        if theirs.zones != (ours.timezone,):
            out.append("zone")
        if theirs.type not in SAME_TYPE.get(ours.type, frozenset()):
            out.append("type")
    return out


Predicate = Callable[[Sample, PhoneNumber, Oracle, str], bool]


@dataclass(frozen=True, slots=True)
class Known:
    name: str
    why: str
    applies: Predicate


def _overseas_prefix(s: Sample) -> bool:
    return s.national is not None and s.national[:4] in OVERSEAS_REGION


KNOWN: tuple[Known, ...] = (
    Known(
        "npv_is_voip",
        "N8/E3: phonenumbers has no NPV category; the 09 NPV ranges are VOIP there",
        lambda s, o, t, a: a == "type" and o.type is NumberType.NPV and t.type == PNT.VOIP,
    ),
    Known(
        "npv_is_fixed",
        "N8/E3: the 01-05 NPV ranges sit inside geographic blocks for phonenumbers (FIXED_LINE)",
        lambda s, o, t, a: a == "type" and o.type is NumberType.NPV and t.type == PNT.FIXED_LINE,
    ),
    Known(
        "m2m_rejected",
        "N5: 0700 + 10 digits (14-digit M2M) is outside phonenumbers' 9-digit French metadata",
        lambda s, o, t, a: a == "valid" and o.type is NumberType.M2M and not t.valid,
    ),
    Known(
        "overseas_as_plus33",
        "Section 4 trap: an overseas prefix read as +33 (region FR, or written +33) is invalid or a "
        "wrong Europe/Paris +33 number in phonenumbers; its territory has its own country code",
        lambda s, o, t, a: (
            _overseas_prefix(s)
            and (s.region == "FR" or s.cc == "33")
            and (not t.valid or (t.e164 or "").startswith("+33"))
        ),
    ),
    Known(
        "pm_national_form",
        "N14: phonenumbers knows PM only as +508 + 6 digits, not the national writing 0508 + 6 digits",
        lambda s, o, t, a: a == "valid" and o.territory == "PM" and s.cc is None and not t.valid,
    ),
    Known(
        "pm_mobile",
        "N14 gives PM one block without a fixed/mobile split; phonenumbers types some PM blocks MOBILE",
        lambda s, o, t, a: a == "type" and o.territory == "PM" and t.type == PNT.MOBILE,
    ),
    Known(
        "stricter_subrange_metro",
        "N3: the reference opens all of 04; phonenumbers only 041-049 (040 unallocated)",
        lambda s, o, t, a: (
            a == "valid" and o.territory == "FR-metro" and not t.valid and (o.national or "")[:3] == "040"
        ),
    ),
    Known(
        "stricter_subrange_overseas",
        "N9-N14: the reference opens whole 4-digit blocks; phonenumbers tracks the sub-blocks "
        "actually allocated to operators",
        lambda s, o, t, a: (
            a == "valid"
            and o.territory in {"RE", "YT", "GP", "GF", "MQ", "PM"}
            and not t.valid
            and not (o.territory == "PM" and s.cc is None)
        ),
    ),
    Known(
        "unlisted_metro_083_088",
        "N6 lists 080-082 and 089 only; phonenumbers knows 083x-088x special ranges",
        lambda s, o, t, a: (
            a == "valid"
            and not o.valid
            and t.valid
            and s.cc in (None, "33")
            and s.nsn[:2] in {"83", "84", "85", "86", "87", "88"}
        ),
    ),
    Known(
        "unlisted_overseas_0709",
        "Not in the reference: overseas 07090-07093 (and 07093x Mayotte) mobiles phonenumbers knows",
        lambda s, o, t, a: (
            a == "valid" and not o.valid and t.valid and s.cc in OVERSEAS_CODES and s.nsn.startswith("709")
        ),
    ),
    Known(
        "unlisted_overseas_special",
        "N6/N7 list 08 and 09 as +33 only; phonenumbers also has 08/09 ranges under +262/+590/+594/+596",
        lambda s, o, t, a: (
            a == "valid" and not o.valid and t.valid and s.cc in OVERSEAS_CODES and s.nsn[:1] in {"8", "9"}
        ),
    ),
    Known(
        "unlisted_overseas_geographic",
        "Not in the reference: overseas fixed blocks 02688/02689 (+262) and 05987-05989 (+590/+594/+596); "
        "the reference keeps 0268x and 0598x metropolitan (N2, N3)",
        lambda s, o, t, a: (
            a == "valid"
            and not o.valid
            and t.valid
            and s.cc in OVERSEAS_CODES
            and s.nsn[:4] in {"2688", "2689", "5987", "5988", "5989"}
        ),
    ),
    Known(
        "unlisted_pm_9_digits",
        "N14 is 0508 + 6 digits; phonenumbers also knows 9-digit PM numbers (708 mobiles, 08)",
        lambda s, o, t, a: a == "valid" and not o.valid and t.valid and s.cc == "508" and len(s.nsn) == 9,
    ),
    Known(
        "unlisted_short",
        "N15/N16 list 15 17 18 112 114 115 119 116xxx 10PQ 118XYZ 3BPQ and 5-digit SMS codes; phonenumbers "
        "also knows others (110, 191, 196, 197, 224, 6xx/7xx carrier codes, 20xx...)",
        lambda s, o, t, a: s.kind == "short" and not o.valid and t.valid,
    ),
    Known(
        "short_116_stricter",
        "N15 opens all of 116xxx; phonenumbers only 116000, 116006, 116111, 116117",
        lambda s, o, t, a: s.kind == "short" and o.valid and not t.valid and s.text.startswith("116"),
    ),
    Known(
        "re_yt_two_zones",
        "N9/N10: the number decides the territory; phonenumbers gives +262 mobiles (and 0639) both "
        "Indian/Mayotte and Indian/Reunion",
        lambda s, o, t, a: a == "zone" and t.zones == ("Indian/Mayotte", "Indian/Reunion") and o.timezone in t.zones,
    ),
)


def classify(sample: Sample, ours: PhoneNumber, theirs: Oracle, aspect: str) -> str | None:
    for known in KNOWN:
        if known.applies(sample, ours, theirs, aspect):
            return known.name
    return None


@pytest.mark.slow
def test_parse_agrees_with_phonenumbers_or_a_known_exception() -> None:
    counts: Counter[str] = Counter()
    unexplained: list[str] = []
    total = 0
    for sample in generate():
        total += 1
        ours = parse(sample.text)
        theirs = ask_oracle(sample)
        for aspect in divergences(sample, ours, theirs):
            name = classify(sample, ours, theirs, aspect)
            if name is None:
                unexplained.append(f"{aspect}: {sample} ours={ours} theirs={theirs}")
            else:
                counts[name] += 1
    print(f"\n{total} numbers cross-checked; divergences per known exception:")
    for known in KNOWN:
        print(f"  {counts[known.name]:7d}  {known.name}: {known.why}")
    assert total >= 100_000
    assert not unexplained, f"{len(unexplained)} unexplained divergences, e.g.:\n" + "\n".join(unexplained[:20])
    never = [k.name for k in KNOWN if counts[k.name] == 0]
    assert not never, f"exceptions that never occur (remove or fix them): {never}"
