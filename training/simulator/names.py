"""Names of the simulated owners (``User.Name``) and accounts (``Account.Name``).

A name is a function of the record's number alone (the number in its id): no random stream is
drawn, so adding names changes nothing else the simulator writes, and an export of any size or
chunking gives a record the same name.  Numbers map to name combinations by a bijective
multiplicative hash, so the first ``len(FIRST) * len(LAST)`` owners (and the first
``len(ACCOUNT_WORDS) * len(ACCOUNT_KINDS) * len(ACCOUNT_FORMS)`` accounts) have distinct
names; later ones repeat a combination with a running number (``... LLC 2``).

Example:
    >>> import numpy as np
    >>> owner_names(np.array([0, 1])).to_pylist()
    ['Kemi Jovanovic', 'Quinn Yilmaz']
    >>> account_names(np.array([0, 16384])).to_pylist()
    ['Kestrel Analytics LLC', 'Kestrel Analytics LLC 2']
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from training.simulator import formatting as fmt

FIRST: tuple[str, ...] = (
    "Ana", "Ben", "Chloe", "Daniel", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kemi", "Liam", "Maya", "Nikhil", "Olivia", "Pablo", "Quinn", "Rosa", "Samir", "Tomas",
    "Uma", "Victor", "Wen", "Ximena", "Yusuf", "Zoe", "Aisha", "Bruno", "Carmen", "Dmitri",
    "Esther", "Felix", "Hannah", "Ivan", "Julia", "Kofi", "Lena", "Marco", "Nadia", "Oscar",
    "Priya", "Rafael", "Sofia", "Theo", "Valentina", "William", "Yara", "Zain",
)
LAST: tuple[str, ...] = (
    "Adams", "Becker", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okafor", "Patel", "Quist", "Rossi",
    "Schmidt", "Novak", "Ulrich", "Vargas", "Wright", "Xu", "Yilmaz", "Zimmermann", "Andersen",
    "Bianchi", "Costa", "Dimitrov", "Eriksson", "Fernandes", "Gupta", "Horvath", "Ibrahim",
    "Jovanovic", "Kim", "Lopez", "Mensah", "Nguyen", "O'Brien", "Petrov", "Reyes", "Silva",
    "Tanaka", "Van Dijk", "Weber", "Young",
)
ACCOUNT_WORDS: tuple[str, ...] = (
    "Acorn", "Bluewater", "Brightpath", "Cedar", "Cobalt", "Crestview", "Delta", "Evergreen",
    "Falcon", "Granite", "Harbor", "Horizon", "Ironwood", "Juniper", "Keystone", "Lakeside",
    "Lumen", "Maple", "Meridian", "Northwind", "Oakridge", "Orion", "Pinnacle", "Quarry",
    "Redwood", "Riverbend", "Sapphire", "Silverline", "Summit", "Tidewater", "Trident",
    "Vantage", "Westfield", "Willow", "Zenith", "Atlas", "Beacon", "Canyon", "Driftwood",
    "Ember", "Fjord", "Glacier", "Highland", "Indigo", "Jade", "Kestrel", "Lighthouse",
    "Monarch", "Nimbus", "Obsidian", "Prairie", "Quartz", "Ridgeline", "Sequoia", "Timber",
    "Upland", "Vertex", "Wavecrest", "Yellowstone", "Aurora", "Boulder", "Coral", "Dune", "Echo",
)
ACCOUNT_KINDS: tuple[str, ...] = (
    "Analytics", "Logistics", "Health", "Energy", "Foods", "Financial", "Manufacturing",
    "Software", "Retail", "Media", "Biotech", "Engineering", "Insurance", "Telecom", "Capital",
    "Mobility", "Robotics", "Pharma", "Textiles", "Materials", "Networks", "Hospitality",
    "Labs", "Systems", "Partners", "Industries", "Holdings", "Solutions", "Dynamics",
    "Consulting", "Ventures", "Group",
)
ACCOUNT_FORMS: tuple[str, ...] = ("Inc.", "Ltd", "GmbH", "LLC", "S.A.", "B.V.", "plc", "AG")

#: The hash: number -> (number * _MUL + _ADD) mod the number of combinations, a permutation
#: because _MUL is odd and not a multiple of 3 (the combination counts are 2^a * 3^b).
_MUL = 0x9E3779B97F4A7C15
_ADD = 0xD1B54A32D192ED03


def _combination(numbers: np.ndarray, sizes: tuple[int, ...]
                 ) -> tuple[list[np.ndarray], np.ndarray]:
    """Each number's hashed combination (one index per vocabulary in ``sizes``) and round."""
    n = np.asarray(numbers, np.int64)
    space = int(np.prod(sizes))
    if np.gcd(_MUL % space, space) != 1:
        raise ValueError(f"{space} name combinations: the hash is not a permutation")
    code = (n % space * (_MUL % space) + _ADD % space) % space
    digits = []
    for size in reversed(sizes):
        digits.append(code % size)
        code = code // size
    return digits[::-1], n // space


def _with_round(names: pa.Array, rounds: np.ndarray) -> pa.Array:
    suffix = pc.if_else(pa.array(rounds > 0),
                        pc.binary_join_element_wise(" ", fmt.integers(rounds + 1), ""), "")
    return pc.binary_join_element_wise(names, suffix, "")


def owner_names(owners: np.ndarray) -> pa.Array:
    """``User.Name`` of owner numbers (0-based, as in the simulated deals)."""
    (first, last), rounds = _combination(owners, (len(FIRST), len(LAST)))
    return _with_round(pc.binary_join_element_wise(fmt.pick(FIRST, first),
                                                   fmt.pick(LAST, last), " "), rounds)


def account_names(accounts: np.ndarray) -> pa.Array:
    """``Account.Name`` of account numbers (0-based, as in the simulated deals)."""
    (word, kind, form), rounds = _combination(
        accounts, (len(ACCOUNT_WORDS), len(ACCOUNT_KINDS), len(ACCOUNT_FORMS)))
    return _with_round(pc.binary_join_element_wise(
        fmt.pick(ACCOUNT_WORDS, word), fmt.pick(ACCOUNT_KINDS, kind),
        fmt.pick(ACCOUNT_FORMS, form), " "), rounds)
