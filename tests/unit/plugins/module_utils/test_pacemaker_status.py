"""pacemaker_status's parsers on crm_mon and cibadmin output captured in the
container lab (fixtures/pacemaker_status/README.md says how)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import (
    StatusError, merge, parse_crm_mon, parse_meta, parse_move, unwatched)

FIXTURES = Path(__file__).parent / "fixtures" / "pacemaker_status"


def _read(name):
    return (FIXTURES / name).read_text()


def _status(mon, resources):
    return merge(parse_crm_mon(_read(mon)), parse_meta(_read(resources)))


def test_healthy_cluster():
    status = _status("crm_mon-healthy.xml", "resources-healthy.xml")
    assert status["quorum"] is True
    assert status["dc"] == "servvirt1"
    assert status["maintenance_mode"] is False
    assert sorted(status["nodes"]) == ["servdb", "servvirt1", "servvirt2"]
    assert all(n["online"] and not n["standby"] and not n["maintenance"] for n in status["nodes"].values())
    vm = status["resources"]["vm-passata"]
    assert vm["agent"] == "ocf:heartbeat:VirtualDomain"
    assert vm["role"] == "Started" and vm["active"] and vm["managed"]
    assert vm["nodes"] == ["servvirt1"]
    assert vm["meta"] == {"allow-migrate": "true"}
    assert vm["move"] is None
    assert status["resources"]["vm-masterauth"]["nodes"] == ["servvirt2"]
    assert status["resources"]["fence-lab"]["agent"] == "stonith:fence_podman"
    assert status["failures"] == []
    assert not [rid for rid, r in status["resources"].items() if unwatched(r)]


def test_instance_attributes_are_never_read():
    status = _status("crm_mon-healthy.xml", "resources-healthy.xml")
    fence = status["resources"]["fence-lab"]
    # The fence device's instance attributes (where a password would be) are not in the result.
    assert "8780" not in repr(fence) and "pcmk_host_map" not in repr(status)


def test_a_killed_move_and_an_unmanaged_vm_are_named():
    status = _status("crm_mon-maintenance-unmanaged.xml", "resources-maintenance-unmanaged.xml")
    passata = status["resources"]["vm-passata"]
    assert passata["move"] == {"from": "servvirt1", "to": "servvirt2"}
    assert passata["managed"] is False
    assert unwatched(passata) == "a move servvirt1 -> servvirt2 was interrupted, in maintenance, unmanaged"
    assert unwatched(status["resources"]["vm-speedauth"]) == "unmanaged"
    assert unwatched(status["resources"]["vm-masterauth"]) == ""


def test_failed_action():
    status = parse_crm_mon(_read("crm_mon-failed-action.xml"))
    assert status["failures"] == [{"op_key": "status-dummy_asyncmon_0", "node": "servvirt2", "exitstatus": "error",
                                   "exitreason": "Simulated failure"}]


def test_a_resource_only_in_the_cib_is_kept_with_its_meta():
    mon = parse_crm_mon(_read("crm_mon-healthy.xml"))
    meta = {"vm-new": {"target-role": "Stopped", "maintenance": "true"}}
    status = merge(mon, meta)
    assert status["resources"]["vm-new"]["active"] is False
    assert unwatched(status["resources"]["vm-new"]) == "in maintenance"


def test_clone_entries_merge_their_instances():
    mon = """<pacemaker-result api-version="2.25" request="crm_mon">
      <summary><current_dc present="true" name="a" with_quorum="true"/></summary>
      <nodes/>
      <resources>
        <clone id="drbd-x-clone" multi_state="true" unique="false" managed="true" disabled="false" failed="false">
          <resource id="drbd-x" resource_agent="ocf:linbit:drbd" role="Promoted" active="true" managed="true"
                    failed="false" blocked="false"><node name="a" id="1"/></resource>
          <resource id="drbd-x" resource_agent="ocf:linbit:drbd" role="Unpromoted" active="true" managed="true"
                    failed="false" blocked="false"><node name="b" id="2"/></resource>
        </clone>
      </resources>
    </pacemaker-result>"""
    status = parse_crm_mon(mon)
    clone = status["resources"]["drbd-x-clone"]
    assert clone["nodes"] == ["a", "b"] and clone["promoted"] == ["a"]
    assert status["resources"]["drbd-x"]["parent"] == "drbd-x-clone"


@pytest.mark.parametrize("text,message", [
    ("not xml", "crm_mon's output is not well-formed XML"),
    ("<cib/>", "starts with <cib>, not <pacemaker-result>"),
])
def test_unreadable_output(text, message):
    with pytest.raises(StatusError, match=message):
        parse_crm_mon(text)


def test_parse_move():
    assert parse_move("") is None
    assert parse_move("servvirt1:servvirt2") == {"from": "servvirt1", "to": "servvirt2"}
