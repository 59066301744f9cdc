"""roles/drbd/files/havirt_drbd_fence_peer.py: DRBD's fence-peer handler.
Its decisions are plain functions, fed here with node states pacemaker
wrote in the labs (fixtures/fence_peer: pacemaker 2.1.5 on Debian 12,
3.0 on Debian 13); the VM lab runs it for real (test_drbd.py's hard
crash: the survivor's promotion)."""

from __future__ import annotations

import functools
import pathlib
import types
import xml.etree.ElementTree as ET

import pytest
import role_files

ROOT = pathlib.Path(__file__).resolve().parents[3]
FIXTURES = pathlib.Path(__file__).parent / "fixtures" / "fence_peer"


handler = role_files.load("drbd", "havirt_drbd_fence_peer")


BOOKWORM_CIB = ROOT / "tests" / "unit" / "plugins" / "module_utils" / "fixtures" / "pacemaker_cib" / "lab-cluster.xml"


def cib(name):
    return ET.parse(FIXTURES / name).getroot()


def test_drbd_conf_runs_it_with_python3():
    template = (ROOT / "roles" / "drbd" / "templates" / "global_common.conf.j2").read_text()
    assert 'fence-peer "/usr/bin/python3 {{ __drbd_fence_peer_handler }} --timeout' in template


@pytest.mark.parametrize("value, expected", [
    ("true", True), ("false", False), ("online", True), ("offline", False),
    ("1764640000", True), ("0", False), (None, None),
])
def test_both_formats_of_in_ccm_and_crmd(value, expected):
    assert handler.joined(value) is expected


def test_pacemaker_3s_online_peer_is_reachable():
    # crm-fence-peer.sh (drbd-utils 9.22) reads crmd="<epoch>" as not
    # "online": neither reachable nor fenced, the whole timeout waited.
    state = handler.node_state(cib("trixie-all-online.xml"), "servvirt2")
    assert state["crmd"].isdigit() and state["in_ccm"].isdigit()
    assert handler.peer_state(state) == "reachable"


# What pacemaker 3.0 wrote for a hypervisor killed in the container lab
# (test_failover, sampled every 0.5 s from servdb): leaving, lost, fenced,
# back in corosync's membership before its controller, joining.
@pytest.mark.parametrize("fixture, node, expected", [
    ("trixie-servvirt1-leaving.xml", "servvirt1", "pending"),
    ("trixie-servvirt2-lost.xml", "servvirt2", "pending"),
    ("trixie-servvirt1-fenced.xml", "servvirt1", "fenced"),
    ("trixie-servvirt1-booting.xml", "servvirt1", "fenced"),
    ("trixie-servvirt1-fenced.xml", "servvirt2", "reachable"),
])
def test_pacemaker_3s_node_states_through_a_failover(fixture, node, expected):
    assert handler.peer_state(handler.node_state(cib(fixture), node)) == expected


def test_pacemaker_3s_joining_node_is_pending_until_it_is_a_member():
    # sampled in the same run: both daemons back, the join not done
    line = '<node_state id="3" uname="servvirt2" in_ccm="1796176918" crmd="1796176918" join="down" expected="down"/>'
    assert handler.peer_state(ET.fromstring(line).attrib) == "pending"


def test_a_fenced_peer_booting_back_is_still_fenced_until_its_controller_joins():
    # expected="down" stays until the rebooted node's controller joins
    state = {"in_ccm": "1764640000", "crmd": "0", "join": "down", "expected": "down"}
    assert handler.peer_state(state) == "fenced"


def test_pacemaker_2_1s_online_peer_is_reachable():
    state = handler.node_state(ET.parse(BOOKWORM_CIB).getroot(), "servvirt2")
    assert state["crmd"] == "online"
    assert handler.peer_state(state) == "reachable"


@pytest.mark.parametrize("attributes", [
    # pacemaker 2.1's words for a lost node not fenced yet
    {"in_ccm": "false", "crmd": "offline", "join": "down", "expected": "member"},
    # no node_state at all: never seen since the cluster started
    None,
])
def test_a_peer_neither_fenced_nor_joined_is_pending(attributes):
    assert handler.peer_state(attributes) == "pending"


def test_pacemaker_2_1s_fenced_peer_is_fenced():
    state = {"in_ccm": "false", "crmd": "offline", "join": "down", "expected": "down"}
    assert handler.peer_state(state) == "fenced"


def test_the_clone_is_found_by_its_drbd_resource():
    found = cib("vmlab-trixie-drbd.xml")
    assert handler.find_clone(found, "passata") == "drbd-passata-clone"
    assert handler.find_clone(found, "scratch") is None


def test_the_constraint_is_the_one_crm_unfence_peer_removes():
    xml = ET.fromstring(handler.constraint("passata", "drbd-passata-clone", "servvirt1"))
    assert xml.get("id") == "drbd-fence-by-handler-passata-drbd-passata-clone"
    assert xml.get("rsc") == "drbd-passata-clone"
    rule = xml.find("rule")
    assert (rule.get("role"), rule.get("score")) == ("Promoted", "-INFINITY")
    expression = rule.find("expression")
    assert (expression.get("attribute"), expression.get("operation"), expression.get("value")) == ("#uname", "ne", "servvirt1")


@pytest.mark.parametrize("peer, disks, place, code", [
    ("fenced", ["UpToDate"], True, 7),
    ("reachable", ["Consistent"], True, 4),
    ("reachable", ["UpToDate"], True, 4),
    ("timeout", ["UpToDate"], True, 5),
    # a copy that may be stale never fences the peer off
    ("fenced", ["Consistent"], False, 5),
    ("timeout", ["Outdated"], False, 5),
    ("reachable", ["Inconsistent"], False, 5),
    ("fenced", [], False, 5),
    ("fenced", ["UpToDate", "Outdated"], False, 5),
])
def test_the_decision_follows_crm_fence_peers_rules(peer, disks, place, code):
    placed, exit_code, message = handler.decide(peer, disks)
    assert (placed, exit_code) == (place, code)
    assert ("placed the constraint" in message) is place


def test_local_disks_reads_drbdadm_dstate():
    assert handler.local_disks("UpToDate/DUnknown\n") == ["UpToDate"]
    assert handler.local_disks("UpToDate/UpToDate\nConsistent/DUnknown\n") == ["UpToDate", "Consistent"]
    assert handler.local_disks("") == []


def test_without_drbds_environment_it_fails(monkeypatch):
    monkeypatch.delenv("DRBD_RESOURCE", raising=False)
    assert handler.main([]) == handler.EXIT_FAILED


class Node:
    """cibadmin and drbdadm as the handler calls them, answering from a
    captured CIB; records what it was asked to write."""

    def __init__(self, cib_file, dstate="UpToDate/DUnknown\n", modify_rc=0):
        self.cib = (FIXTURES / cib_file).read_text()
        self.dstate = dstate
        self.modify_rc = modify_rc
        self.written = []

    def __call__(self, *command):
        if command[:2] == ("cibadmin", "--query"):
            return handler.subprocess.CompletedProcess(command, 0, self.cib, "")
        if command[:2] == ("drbdadm", "dstate"):
            return handler.subprocess.CompletedProcess(command, 0, self.dstate, "")
        if command[:2] == ("cibadmin", "--modify"):
            self.written.append(command[-1])
            return handler.subprocess.CompletedProcess(command, self.modify_rc, "", "error" if self.modify_rc else "")
        raise AssertionError(command)


@pytest.fixture
def node(monkeypatch):
    def install(*args, **kwargs):
        fake = Node(*args, **kwargs)
        monkeypatch.setattr(handler, "run", fake)
        monkeypatch.setattr(handler, "POLL_S", 0)
        monkeypatch.setattr(handler.os, "uname", functools.partial(types.SimpleNamespace, nodename="servvirt1"))
        monkeypatch.setenv("DRBD_RESOURCE", "passata")
        monkeypatch.setenv("DRBD_PEER", "servvirt2")
        return fake
    return install


def test_a_reachable_peer_is_fenced_off_at_once(node):
    fake = node("vmlab-trixie-drbd.xml")
    assert handler.main(["--timeout", "30"]) == handler.EXIT_PEER_OUTDATED
    assert len(fake.written) == 1
    assert 'value="servvirt1"' in fake.written[0] and 'rsc="drbd-passata-clone"' in fake.written[0]


def test_an_unknown_peer_is_waited_for_then_an_uptodate_copy_goes_on(node, monkeypatch):
    fake = node("vmlab-trixie-drbd.xml")
    monkeypatch.setenv("DRBD_PEER", "servnone")
    assert handler.main(["--timeout", "1"]) == handler.EXIT_PEER_UNREACHABLE
    assert len(fake.written) == 1


def test_a_stale_copy_never_fences_off_its_peer(node):
    fake = node("vmlab-trixie-drbd.xml", dstate="Inconsistent/UpToDate\n")
    assert handler.main(["--timeout", "1"]) == handler.EXIT_PEER_UNREACHABLE
    assert fake.written == []


def test_a_constraint_that_cannot_be_written_keeps_io_frozen(node):
    node("vmlab-trixie-drbd.xml", modify_rc=1)
    assert handler.main(["--timeout", "1"]) == handler.EXIT_FAILED


def test_a_resource_no_clone_runs_is_refused(node, monkeypatch):
    fake = node("vmlab-trixie-drbd.xml")
    monkeypatch.setenv("DRBD_RESOURCE", "scratch")
    assert handler.main(["--timeout", "1"]) == handler.EXIT_FAILED
    assert fake.written == []
