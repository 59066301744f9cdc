# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The running tgt target as ``tgtadm --lld iscsi --mode target --op show``
prints it, and what to do for its LUNs to be the inventory's: LUN n is the
n-th entry of iscsi_target_luns, whatever tgt-admin would make of the
configuration file (it numbers the backing stores of a target in the
sorted order of their paths unless each has its own ``lun``).

Plain functions; the unit tests feed them with what tgt 1.0.85 (Debian 12
and 13) printed (tests/unit/plugins/module_utils/fixtures/tgtadm)."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

import re

_TARGET = re.compile(r"^Target (\d+): (\S+)\s*$")
_LUN = re.compile(r"^\s+LUN: (\d+)\s*$")
_PATH = re.compile(r"^\s+Backing store path: (.*?)\s*$")
_NEXUS = re.compile(r"^\s+I_T nexus: (\d+)\s*$")
_INITIATOR = re.compile(r"^\s+Initiator: (\S+)")


class TgtadmError(Exception):
    """What tgtadm printed is not what these functions understand."""


def parse_targets(text):
    """``{iqn: {"tid": int, "luns": {n: path}, "sessions": [initiator, ...]}}``
    from tgtadm's target listing. LUN 0 (tgt's controller, no backing
    store) is left out."""
    targets = {}
    current = None
    lun = None
    for line in text.splitlines():
        found = _TARGET.match(line)
        if found:
            current = {"tid": int(found.group(1)), "luns": {}, "sessions": []}
            targets[found.group(2)] = current
            lun = None
            continue
        if current is None:
            if line.strip():
                raise TgtadmError("tgtadm printed %r before any 'Target N: IQN' line" % line.strip())
            continue
        found = _LUN.match(line)
        if found:
            lun = int(found.group(1))
            continue
        found = _PATH.match(line)
        if found and lun is not None:
            if lun != 0 and found.group(1) != "None":
                current["luns"][lun] = found.group(1)
            continue
        found = _INITIATOR.match(line)
        if found:
            current["sessions"].append(found.group(1))
    return targets


def lun_plan(running, wanted):
    """What makes the running LUNs (``{n: path}``) the wanted ones (a list of
    paths, LUN n being entry n): ``{"add": [(n, path)], "moved": [(n,
    running path, wanted path)], "extra": [(n, path)]}``. A moved LUN is
    never changed live: the guest that uses LUN n would get another disk."""
    plan = {"add": [], "moved": [], "extra": []}
    for number, path in enumerate(wanted, 1):
        now = running.get(number)
        if now is None:
            plan["add"].append((number, path))
        elif now != path:
            plan["moved"].append((number, now, path))
    plan["extra"] = sorted((number, path) for number, path in running.items() if number > len(wanted))
    return plan


def moved_message(iqn, moved, running):
    """The refusal for LUNs whose backing store differs from the inventory's."""
    said = "; ".join("LUN %d is %s, the inventory's entry %d is %s" % (n, now, n, path) for n, now, path in moved)
    order = ", ".join("%s" % running[n] for n in sorted(running))
    return ("The running target %s numbers its LUNs otherwise than iscsi_target_luns: %s. Changing that would give "
            "each VM another disk. If the running numbering is the one your VMs use (a target set up before "
            "havirt.cluster numbered tgt's LUNs in the list's order, when tgt-admin sorted them by path), write "
            "iscsi_target_luns in that order: %s. Nothing was changed." % (iqn, said, order))


def add_lun_argv(tgtadm, tid, number, path):
    return [tgtadm, "--lld", "iscsi", "--mode", "logicalunit", "--op", "new", "--tid", str(tid), "--lun",
            str(number), "--backing-store", path]
