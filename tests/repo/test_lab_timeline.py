"""tools/labkit/timeline.py on what the lab's nodes really logged after a
hypervisor was killed: `make bench-failover` with --keep-logs, one run on
Debian 13 nodes (pacemaker 3.0), the journals cut to the cluster stack's
lines and to 30 s after the kill (fixtures/timeline/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit import timeline

FIXTURES = Path(__file__).parent / "fixtures" / "timeline"
RUNS = sorted(FIXTURES.glob("*.json"))


def _load(path):
    run = json.loads(path.read_text())
    entries = [e for text in run["logs"]["journal"].values() for e in timeline.journal_entries(text)]
    return run, entries


def _qemu(run, vm):
    return [t for key, text in run["logs"]["qemu"].items() if key.endswith("/" + vm) for t in timeline.qemu_starts(text)]


def test_there_is_a_capture_of_pacemaker_3():
    # Debian 12's pacemaker 2.1 has no capture yet (it writes "ok" where 3.0
    # writes "OK"; the pattern takes both): see docs/testing.md.
    assert "trixie" in {path.name.split("-")[0] for path in RUNS}


@pytest.mark.parametrize("path", RUNS, ids=[p.name for p in RUNS])
def test_every_phase_is_found_in_the_safe_order(path):
    run, entries = _load(path)
    assert run["vms"]
    for vm in run["vms"]:
        phases = timeline.phases(entries, _qemu(run, vm), run["killed_at"], run["victim"], "vm-" + vm)
        assert list(phases) == [name for name, _, _ in timeline.PHASES], (vm, phases)
        assert 0 < phases["membership lost"] < phases["node fenced"] <= phases["start requested"], (vm, phases)


@pytest.mark.parametrize("path", RUNS, ids=[p.name for p in RUNS])
def test_nothing_before_the_kill_counts(path):
    """Moved an hour later, the kill is after every line: no phase found."""
    run, entries = _load(path)
    vm = run["vms"][0]
    assert timeline.phases(entries, _qemu(run, vm), run["killed_at"] + 3600, run["victim"], "vm-" + vm) == {}


def test_another_node_or_vm_is_not_taken_for_this_one():
    run, entries = _load(RUNS[0])
    phases = timeline.phases(entries, [], run["killed_at"], "servnone", "vm-none")
    assert "node fenced" not in phases and "start requested" not in phases


def test_journal_entries_skip_binary_messages():
    text = "\n".join([
        json.dumps({"__REALTIME_TIMESTAMP": "1796164013500000", "SYSLOG_IDENTIFIER": "corosync", "MESSAGE": "hello"}),
        json.dumps({"__REALTIME_TIMESTAMP": "1796164013600000", "SYSLOG_IDENTIFIER": "kernel", "MESSAGE": [104, 105]}),
        ""])
    assert timeline.journal_entries(text) == [{"t": 1796164013.5, "ident": "corosync", "msg": "hello"}]


def test_qemu_starts_read_libvirts_log_lines():
    text = ("2026-12-01 22:16:36.123+0000: starting up libvirt version: 11.3.0, qemu version: 10.0.0\n"
            "LC_ALL=C PATH=/usr/bin QEMU_AUDIO_DRV=none /usr/bin/qemu-system-x86_64 -name guest=passata\n"
            "2026-12-01 22:16:40.000+0000: shutting down, reason=destroyed\n")
    assert timeline.qemu_starts(text) == [pytest.approx(1796163396.123)]


def test_between_gives_the_lines_of_a_slow_phase_in_order():
    entries = [{"t": 10.0, "ident": "a", "msg": "late"}, {"t": 5.0, "ident": "b", "msg": "early"},
               {"t": 1.0, "ident": "c", "msg": "before"}]
    assert timeline.between(entries, 4.0, 11.0) == ["+1.00 b: early", "+6.00 a: late"]


def test_a_vm_on_drbd_also_waits_for_its_disk():
    """The VM lab's lines (pacemaker 3.0 writes "OK", 2.1 "ok"), as
    test_drbd.py's hard crash reads them."""
    line = "Result of promote operation for drbd-passata on servvirt1: {} "
    entries = [{"t": 100.0, "ident": "havirt-drbd-fence-peer", "msg": "passata (peer servvirt2, clone drbd-passata-clone): "
                "peer is fenced, my disk is UpToDate: placed the constraint"},
               {"t": 101.5, "ident": "pacemaker-controld", "msg": line.format("OK")},
               {"t": 99.0, "ident": "pacemaker-controld", "msg": line.format("ok")}]
    assert timeline.phases(entries, [], 90.0, "servvirt2", "vm-passata", disk="drbd-passata") == {
        "disk promoted": 9.0, "peer fenced off": 10.0}
    assert timeline.phases(entries, [], 100.0, "servvirt2", "vm-passata", disk="drbd-passata") == {
        "peer fenced off": 0.0, "disk promoted": 1.5}
    assert "disk promoted" not in timeline.phases(entries, [], 90.0, "servvirt2", "vm-passata")
    # another resource's handler line is not this VM's
    assert "peer fenced off" not in timeline.phases(entries, [], 90.0, "servvirt2", "vm-other", disk="drbd-other")


def test_the_o2cb_recovery_of_a_vm_on_ocfs2_is_found_in_order():
    """The VM lab's crash of a hypervisor running a VM whose image is on
    OCFS2 (trixie-vmlab-ocfs2.json): the start waited for O2CB to evict the
    dead node and replay its journal, after the cluster had fenced it."""
    run, entries = _load(Path(__file__).parent / "fixtures" / "timeline-vmlab" / "trixie-ocfs2.json")
    vm = run["vms"][0]
    phases = timeline.phases(entries, _qemu(run, vm), run["killed_at"], run["victim"], "vm-" + vm, ocfs2=True)
    # The survivor's journal only: the fencing request and the start's
    # initiation are the DC's (servdb) lines.
    assert list(phases) == ["membership lost", "node fenced", "o2net lost the node", "o2dlm recovery begins",
                            "journal replay begins", "journal replay done", "QEMU started", "start done"], phases
    assert phases["node fenced"] < 10 and 60 < phases["o2dlm recovery begins"] < 70
    assert "o2dlm recovery begins" not in timeline.phases(entries, [], run["killed_at"], run["victim"], "vm-" + vm)
