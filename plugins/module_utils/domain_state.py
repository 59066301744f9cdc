# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plain functions behind havirt.cluster.domain_state: what libvirt's
state, state reason and current job of a domain mean for the question
"does this VM run here, or is it passing through?". No libvirt import: the
numbers are libvirt's stable ABI (virDomainState, virDomain*Reason,
virDomainJobType, virDomainJobOperation), checked against the binding by
the unit tests."""

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

STATES = {
    0: "nostate", 1: "running", 2: "blocked", 3: "paused", 4: "shutdown",
    5: "shutoff", 6: "crashed", 7: "pmsuspended",
}

# virDomainRunningReason and virDomainPausedReason, the two states a domain
# on its way in or out of a live migration is in.
RUNNING_REASONS = {
    0: "unknown", 1: "booted", 2: "migrated", 3: "restored", 4: "from_snapshot", 5: "unpaused",
    6: "migration_canceled", 7: "save_canceled", 8: "wakeup", 9: "crashed", 10: "postcopy",
    11: "postcopy_failed",
}
PAUSED_REASONS = {
    0: "unknown", 1: "user", 2: "migration", 3: "save", 4: "dump", 5: "ioerror", 6: "watchdog",
    7: "from_snapshot", 8: "shutting_down", 9: "snapshot", 10: "crashed", 11: "starting_up",
    12: "postcopy", 13: "postcopy_failed", 14: "api_error",
}

JOB_TYPES = {0: "none", 1: "bounded", 2: "unbounded", 3: "completed", 4: "failed", 5: "cancelled"}
JOB_OPERATIONS = {
    0: "unknown", 1: "start", 2: "save", 3: "restore", 4: "migration_in", 5: "migration_out",
    6: "snapshot", 7: "snapshot_revert", 8: "dump", 9: "backup", 10: "snapshot_delete",
}

# A domain is "passing through" while a migration job runs on it, and
# while it is paused by a migration (an incoming domain waiting for its
# memory, a source that has handed over and waits to be torn down, a
# post-copy in flight): neither copy can be called the VM's home then.
MIGRATING_PAUSED = ("migration", "starting_up", "postcopy")
MIGRATING_JOBS = ("migration_in", "migration_out")


def reason_name(state, reason):
    """The name of a state reason, for the states whose reasons matter here."""
    if state == 1:
        return RUNNING_REASONS.get(reason, "unknown")
    if state == 3:
        return PAUSED_REASONS.get(reason, "unknown")
    return "unknown"


def describe(state, reason, job_type=0, operation=None):
    """A domain as migrate.yml reads it, from virDomainGetState's (state,
    reason) and the current job's type and operation (virDomainGetJobStats
    'type' and 'operation'; None when libvirt does not say: then the
    state's reason alone tells a migration).

    here: the VM runs (or is paused by someone) on this host and no
    migration is moving it; migrating: a migration job or a migration's
    pause holds it; neither: it is defined but stopped."""
    name = STATES.get(state, "unknown")
    why = reason_name(state, reason)
    job = JOB_TYPES.get(job_type, "unknown") if job_type is not None else "unknown"
    active_job = job in ("bounded", "unbounded")
    op = JOB_OPERATIONS.get(operation, "unknown") if operation is not None else None
    if active_job and op is None:
        op = "unknown"
    migrating = (active_job and op in MIGRATING_JOBS) or (name == "paused" and why in MIGRATING_PAUSED)
    alive = name in ("running", "blocked", "paused", "pmsuspended")
    return {
        "state": name,
        "reason": why,
        "job": op if active_job else "none",
        "migrating": bool(migrating),
        "here": bool(alive and not migrating),
    }


def absent():
    """What describe() says of a domain this host does not know."""
    return {"state": "absent", "reason": "unknown", "job": "none", "migrating": False, "here": False}
