"""The storage node's running iSCSI target (tgt), as tgtd says."""

from __future__ import annotations


def tgt_target(node) -> tuple[dict[int, str], int]:
    """The LUNs (number: backing store; tgt's LUN 0 left out) and the
    number of sessions of the target tgtd runs on ``node`` (a testinfra
    host)."""
    out = node.check_output("tgtadm --lld iscsi --mode target --op show")
    luns: dict[int, str] = {}
    number = None
    for line in out.splitlines():
        words = line.split()
        if words[:1] == ["LUN:"]:
            number = int(words[1])
        elif words[:3] == ["Backing", "store", "path:"] and words[3:] and words[3].startswith("/"):
            luns[number] = words[3]
    return luns, sum(1 for line in out.splitlines() if line.split()[:2] == ["I_T", "nexus:"])
