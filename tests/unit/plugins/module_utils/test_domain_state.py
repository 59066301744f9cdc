"""What havirt.cluster.domain_state makes of libvirt's state, reason and
job. The sequences in fixtures/domain_state were captured in the container
lab (tools/capture-domain-state.py) by polling virDomainGetState and
virDomainGetJobStats on both hypervisors every 50 ms during a live
migration of passata slowed to 8 MiB/s: each line is what one host said at
one instant."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils import domain_state as ds

FIXTURES = Path(__file__).parent / "fixtures" / "domain_state"


@pytest.mark.parametrize("table, prefix", [
    (ds.STATES, "VIR_DOMAIN_"),
    (ds.RUNNING_REASONS, "VIR_DOMAIN_RUNNING_"),
    (ds.PAUSED_REASONS, "VIR_DOMAIN_PAUSED_"),
    (ds.JOB_TYPES, "VIR_DOMAIN_JOB_"),
    (ds.JOB_OPERATIONS, "VIR_DOMAIN_JOB_OPERATION_"),
])
def test_numbers_are_libvirts(table, prefix):
    """Each number is the binding's; one the binding lacks (a newer libvirt
    than the controller's, such as PAUSED_API_ERROR from libvirt 10) comes
    after every number the binding has."""
    libvirt = pytest.importorskip("libvirt")
    known = {number: name for number, name in table.items() if hasattr(libvirt, prefix + name.upper())}
    for number, name in known.items():
        assert getattr(libvirt, prefix + name.upper()) == number, name
    assert len(known) >= len(table) - 2
    assert all(number > max(known) for number in set(table) - set(known))


@pytest.mark.parametrize("state, reason, job, operation, here, migrating", [
    (1, 1, 0, None, True, False),    # running, booted, no job
    (1, 2, 0, None, True, False),    # running after it migrated in
    (3, 1, 0, None, True, False),    # paused by an administrator: still its home
    (1, 1, 2, 5, False, True),       # source while the migration runs
    (3, 2, 2, 4, False, True),       # destination waiting for the memory
    (3, 11, 0, None, False, True),   # destination starting up for an incoming migration
    (3, 2, 0, None, False, True),    # source after the hand-over, before it is torn down
    (1, 10, 2, 4, False, True),      # destination running in post-copy, pages still coming
    (1, 10, 0, None, True, False),   # post-copy over
    (5, 1, 0, None, False, False),   # shut off
    (1, 1, 2, 9, True, False),       # a backup job does not make it migrate
])
def test_describe(state, reason, job, operation, here, migrating):
    found = ds.describe(state, reason, job, operation)
    assert (found["here"], found["migrating"]) == (here, migrating), found


def test_a_job_of_unknown_kind_is_named():
    assert ds.describe(1, 1, 2, None)["job"] == "unknown"
    assert ds.describe(1, 1, 0, None)["job"] == "none"


def test_absent_is_neither_here_nor_migrating():
    assert ds.absent() == {"state": "absent", "reason": "unknown", "job": "none", "migrating": False, "here": False}


def _read(row):
    return ds.absent() if row["raw"] is None else ds.describe(*row["raw"])


def _captured():
    return [json.loads(line) for line in (FIXTURES / "migration-8MiBs.jsonl").read_text().splitlines() if line.strip()]


def test_the_captured_migration_has_every_phase():
    """The capture is worth something only if it caught the move under way on both sides."""
    seen = {(row["host"], _read(row)["migrating"]) for row in _captured()}
    assert ("source", True) in seen and ("destination", True) in seen


def test_at_no_captured_instant_are_both_copies_here():
    """The invariant migrate.yml relies on: at every instant at most one
    host says `here`; while the move runs, at least one says `migrating`."""
    by_time = {}
    for row in _captured():
        by_time.setdefault(row["t"], {})[row["host"]] = _read(row)
    assert len(by_time) > 20
    for instant, hosts in by_time.items():
        here = [host for host, found in hosts.items() if found["here"]]
        assert len(here) <= 1, (instant, hosts)


def test_once_nothing_migrates_the_vm_is_here_exactly_once():
    by_time = {}
    for row in _captured():
        by_time.setdefault(row["t"], {})[row["host"]] = _read(row)
    settled = [hosts for hosts in by_time.values()
               if len(hosts) == 2 and not any(found["migrating"] for found in hosts.values())]
    assert settled
    for hosts in settled:
        assert sum(found["here"] for found in hosts.values()) == 1, hosts
