"""Sizes as the roles write them, in bytes, for tests that compare them
with what a tool reports. The iscsi_target role creates each LUN's file
with `truncate --size SIZE` (roles/iscsi_target/tasks/main.yml), so a
LUN's `size` means what it means to truncate: K, M, G... are powers of
1024 (KiB, MiB... too), KB, MB... powers of 1000
(tests/repo/test_lab_sizes.py checks this against truncate itself)."""

from __future__ import annotations

import re

# coreutils' suffixes for truncate, in order of power: k, m, g and t may
# also be lower case.
_POWERS = "KMGTPEZYRQ"
_SIZE = re.compile(r"\s*(?P<number>\d*)(?:(?P<unit>[KMGTPEZYRQkmgt])(?P<kind>iB|B)?)?")


def truncate_bytes(size) -> int:
    """Bytes of a file `truncate --size SIZE` creates. ValueError for
    what truncate refuses (or a relative size: +, -, <, >, /, %)."""
    match = _SIZE.fullmatch(str(size))
    if not match or not (match.group("number") or match.group("unit")):
        raise ValueError(f"not a size truncate creates a file of: {size!r}")
    # A unit alone is one of it ("M": 1 MiB), as for truncate.
    number = int(match.group("number") or 1)
    if not match.group("unit"):
        return number
    base = 1000 if match.group("kind") == "B" else 1024
    return number * base ** (_POWERS.index(match.group("unit").upper()) + 1)
