"""Benchmark: `prospectguard.numbering.parse` against phonenumbers' parse + is_valid_number + number_type.

Not a test: run `python benchmarks/numbering.py`. Both sides get the same 200,000 numbers (fixed seed)
in mixed writings: about 97% French numbers (metro and overseas; national with various separators,
+33, +33 (0), 0033, overseas E.164), 2% junk and 1% foreign numbers. Best of 3 runs each.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import phonenumbers

from prospectguard.numbering import parse

COUNT = 200_000
SEED = 20261128
ROUNDS = 3

PREFIXES = [
    *["06", "07"] * 6,
    *["01", "02", "03", "04", "05"] * 2,
    "09",
    "080",
    "089",
    "0590",
    "0690",
    "0262",
    "0692",
    "0269",
    "0639",
    "0594",
    "0694",
    "0596",
    "0696",
]
OVERSEAS_CC = {"059": "590", "069": "590", "026": "262", "063": "262"}
FOREIGN = ["+44 20 7946 0958", "+1 201-555-0123", "+49 30 123456", "+32 470 12 34 56", "+34 612 34 56 78"]
JUNK = ["", "n/a", "06 12 34", "+33 590 12 34 56", "07 00 12 34 56", "0612345678x"]


def _cc(national: str) -> str:
    """The country code of a national number (enough for this generator; not the product's table)."""
    if national[:4] in ("0594", "0694"):
        return "594"
    if national[:4] in ("0596", "0696"):
        return "596"
    return OVERSEAS_CC.get(national[:3], "33")


def _spaced(digits: str, sep: str) -> str:
    return sep.join(digits[i : i + 2] for i in range(0, len(digits), 2))


def generate(count: int = COUNT, seed: int = SEED) -> list[str]:
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(count):
        r = rng.random()
        if r < 0.01:
            out.append(rng.choice(FOREIGN))
            continue
        if r < 0.03:
            out.append(rng.choice(JUNK))
            continue
        prefix = rng.choice(PREFIXES)
        national = prefix + "".join(rng.choice("0123456789") for _ in range(10 - len(prefix)))
        cc = _cc(national)
        style = rng.randrange(8)
        if style == 0:
            out.append(national)
        elif style == 1:
            out.append(_spaced(national, " "))
        elif style == 2:
            out.append(_spaced(national, rng.choice(".-/")))
        elif style == 3:
            out.append(_spaced(national, "\u00a0"))
        elif style == 4:
            out.append(f"+{cc} {national[1]} {_spaced(national[2:], ' ')}")
        elif style == 5:
            out.append(f"+{cc}{national[1:]}")
        elif style == 6:
            out.append(f"+{cc} (0){national[1:]}")
        else:
            out.append(f"00{cc}{national[1:]}")
    return out


def ours(numbers: list[str]) -> None:
    for raw in numbers:
        parse(raw)


def theirs(numbers: list[str]) -> None:
    for raw in numbers:
        try:
            num = phonenumbers.parse(raw, "FR")
        except phonenumbers.NumberParseException:
            continue
        phonenumbers.is_valid_number(num)
        phonenumbers.number_type(num)


def best_of(fn: Callable[[list[str]], None], numbers: list[str], rounds: int = ROUNDS) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn(numbers)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    numbers = generate()
    valid = sum(parse(n).valid for n in numbers)
    print(f"{len(numbers)} numbers ({valid} valid for prospectguard), best of {ROUNDS}")
    t_ours = best_of(ours, numbers)
    t_theirs = best_of(theirs, numbers)
    us_ours = t_ours / len(numbers) * 1e6
    us_theirs = t_theirs / len(numbers) * 1e6
    foreign = set(FOREIGN)
    domestic = [n for n in numbers if n not in foreign]  # foreign numbers go through phonenumbers
    us_domestic = best_of(ours, domestic) / len(domestic) * 1e6
    print(f"prospectguard.numbering.parse                 : {us_ours:6.2f} µs/number")
    print(f"  (without the 1% foreign numbers it delegates : {us_domestic:6.2f} µs/number)")
    print(f"phonenumbers parse+is_valid_number+number_type: {us_theirs:6.2f} µs/number")
    print(f"ratio: prospectguard is {us_theirs / us_ours:.1f}x faster")


if __name__ == "__main__":
    main()
