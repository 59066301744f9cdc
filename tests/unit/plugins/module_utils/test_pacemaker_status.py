"""pacemaker_status's parsers on crm_mon and cibadmin output captured in the
container lab, pacemaker 2.1.5 and 3.0.0 (fixtures/pacemaker_status/README.md
says how)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import (
    StatusError, merge, online_nodes, parse_crm_mon, parse_meta, parse_move, primitive_ids, unwatched)

FIXTURES = Path(__file__).parent / "fixtures" / "pacemaker_status"
# A healthy lab cluster, as each pacemaker prints it: crm_mon's XML, the CIB's resources section.
HEALTHY = {
    "2.1.5": ("crm_mon-healthy.xml", "resources-healthy.xml"),
    "3.0.0": ("crm_mon-healthy-pacemaker3.xml", "resources-healthy-pacemaker3.xml"),
}


def _read(name):
    return (FIXTURES / name).read_text()


def _status(mon, resources):
    return merge(parse_crm_mon(_read(mon)), parse_meta(_read(resources)))


@pytest.mark.parametrize("version,dc", [("2.1.5", "servvirt1"), ("3.0.0", "servvirt2")])
def test_healthy_cluster(version, dc):
    status = _status(*HEALTHY[version])
    assert status["quorum"] is True
    assert status["dc"] == dc
    assert status["maintenance_mode"] is False
    assert sorted(status["nodes"]) == ["servdb", "servvirt1", "servvirt2"]
    assert all(n["online"] and not n["standby"] and not n["maintenance"] for n in status["nodes"].values())
    assert online_nodes(status) == ["servdb", "servvirt1", "servvirt2"]
    vm = status["resources"]["vm-passata"]
    assert vm["agent"] == "ocf:heartbeat:VirtualDomain"
    assert vm["role"] == "Started" and vm["active"] and vm["managed"] and not vm["maintenance"]
    assert vm["target_role"] == ""
    assert vm["nodes"] == ["servvirt1"]
    assert vm["meta"] == {"allow-migrate": "true"}
    assert vm["move"] is None
    assert status["resources"]["vm-masterauth"]["nodes"] == ["servvirt2"]
    assert status["resources"]["fence-lab"]["agent"] == "stonith:fence_podman"
    assert status["failures"] == []
    assert not [rid for rid, r in status["resources"].items() if unwatched(r)]


@pytest.mark.parametrize("version", sorted(HEALTHY))
def test_instance_attributes_are_never_read(version):
    status = _status(*HEALTHY[version])
    # The fence device's instance attributes (where a password would be) are not in the result.
    assert "8780" not in repr(status) and "podman.sock" not in repr(status) and "pcmk_host_map" not in repr(status)


@pytest.mark.parametrize("version", sorted(HEALTHY))
def test_the_primitives_of_the_cib(version):
    assert primitive_ids(_read(HEALTHY[version][1])) == [
        "fence-lab", "havirt-storage", "vm-passata", "vm-speedauth", "vm-masterauth"]


def test_a_killed_move_and_an_unmanaged_vm_are_named():
    status = _status("crm_mon-maintenance-unmanaged.xml", "resources-maintenance-unmanaged.xml")
    passata = status["resources"]["vm-passata"]
    assert passata["move"] == {"from": "servvirt1", "to": "servvirt2"}
    assert passata["managed"] is False
    assert unwatched(passata) == "a move servvirt1 -> servvirt2 was interrupted, in maintenance"
    assert unwatched(status["resources"]["vm-speedauth"]) == "unmanaged"
    assert unwatched(status["resources"]["vm-masterauth"]) == ""


def test_maintenance_alone_is_not_also_called_unmanaged():
    """crm_mon says managed="false" of a resource in maintenance; unmanaged
    is said when is-managed is set too, or when nothing else explains it."""
    assert unwatched({"managed": False, "maintenance": True, "meta": {}}) == "in maintenance"
    assert unwatched({"managed": False, "meta": {"maintenance": "true", "is-managed": "false"}}) == \
        "in maintenance, unmanaged"
    assert unwatched({"managed": False, "meta": {}}) == "unmanaged"
    assert unwatched({"managed": True, "meta": {}}) == ""


def test_failed_action():
    status = parse_crm_mon(_read("crm_mon-failed-action.xml"))
    assert status["failures"] == [{"op_key": "status-dummy_asyncmon_0", "node": "servvirt2", "exitstatus": "error",
                                   "exitreason": "Simulated failure", "last_rc_change": "2026-12-01 15:38:22Z"}]


def test_a_failure_without_an_operation_key_is_named_by_its_id():
    # crm_mon writes id= instead of op_key= when the history entry has no operation key (pe_output.c).
    text = _read("crm_mon-failed-action.xml").replace('op_key="status-dummy_asyncmon_0"', 'id="status-dummy_last_failure_0"')
    assert parse_crm_mon(text)["failures"][0]["op_key"] == "status-dummy_last_failure_0"


def test_a_stopped_resource_says_its_target_role():
    # As pacemaker prints a resource stopped with target-role (id, resource_agent, role, target_role, active...).
    text = _read("crm_mon-healthy-pacemaker3.xml").replace(
        '<resource id="vm-speedauth" resource_agent="ocf:heartbeat:VirtualDomain" role="Started" active="true"',
        '<resource id="vm-speedauth" resource_agent="ocf:heartbeat:VirtualDomain" role="Stopped" target_role="Stopped"'
        ' active="false"')
    vm = parse_crm_mon(text)["resources"]["vm-speedauth"]
    assert (vm["role"], vm["target_role"], vm["active"]) == ("Stopped", "Stopped", False)


def test_pacemaker3_says_maintenance_per_resource():
    # 2.1.5's crm_mon has no maintenance attribute on a resource (the meta attribute says it); 3.0.0's has.
    assert 'maintenance="false" managed="true"' in _read("crm_mon-healthy-pacemaker3.xml")
    assert 'blocked="false" managed="true"' in _read("crm_mon-healthy.xml")
    text = _read("crm_mon-healthy-pacemaker3.xml").replace(
        'role="Started" active="true" orphaned="false" blocked="false" maintenance="false" managed="true"',
        'role="Started" active="true" orphaned="false" blocked="false" maintenance="true" managed="false"', 1)
    status = merge(parse_crm_mon(text), parse_meta(_read("resources-healthy-pacemaker3.xml")))
    assert unwatched(status["resources"]["fence-lab"]) == "in maintenance"


def test_the_first_meta_attribute_counts():
    text = """<resources><primitive id="a" class="ocf" provider="pacemaker" type="Dummy">
      <meta_attributes id="a-1"><nvpair id="a-1-m" name="maintenance" value="true"/>
        <nvpair id="a-1-m2" name="maintenance" value="false"/></meta_attributes>
      <meta_attributes id="a-2"><nvpair id="a-2-m" name="maintenance" value="false"/>
        <nvpair id="a-2-t" name="target-role" value="Stopped"/></meta_attributes>
    </primitive></resources>"""
    assert parse_meta(text) == {"a": {"maintenance": "true", "target-role": "Stopped"}}


@pytest.mark.parametrize("text,message", [
    ("not xml", "cibadmin's resources section is not well-formed XML"),
    ("<cib/>", "starts with <cib>, not <resources>"),
])
def test_unreadable_resources(text, message):
    with pytest.raises(StatusError, match=message):
        parse_meta(text)
    with pytest.raises(StatusError, match=message):
        primitive_ids(text)


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


def test_node_utilization_and_placement_strategy():
    from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import (
        parse_node_utilization, parse_property)
    assert parse_node_utilization(_read("nodes-no-utilization-pacemaker3.xml")) == {
        "servdb": {}, "servvirt1": {}, "servvirt2": {}}
    assert parse_property(_read("crm_config-pacemaker3.xml"), "load-threshold") == "400%"
    assert parse_property(_read("crm_config-pacemaker3.xml"), "placement-strategy", "default") == "default"
    with pytest.raises(StatusError, match="nodes section starts with <resources>"):
        parse_node_utilization(_read("resources-healthy.xml"))
    # As the pacemaker role left it: the hypervisors' capacity, none on the storage node, the strategy set.
    assert parse_node_utilization(_read("nodes-utilization-pacemaker3.xml")) == {
        "servdb": {},
        "servvirt1": {"cpu": 8, "host_memory": 23081, "hv_memory": 23081},
        "servvirt2": {"cpu": 8, "host_memory": 23081, "hv_memory": 23081}}
    assert parse_property(_read("crm_config-balanced-pacemaker3.xml"), "placement-strategy") == "balanced"


def test_resource_defaults_and_the_failure_timeout_that_applies():
    from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import (
        failed_start_times, failure_timeout, parse_resource_defaults)
    # As the pacemaker role leaves them (captured in the VM lab, pacemaker 3.0).
    defaults = parse_resource_defaults(_read("rsc_defaults-pacemaker3.xml"))
    assert defaults == {"resource-stickiness": "100", "migration-threshold": "3", "failure-timeout": "10min"}
    # The first block wins; a block with a rule applies only sometimes and is left out.
    text = ('<rsc_defaults><meta_attributes id="a"><rule id="r" score="0"><date_expression id="d" operation="lt" '
            'end="2030-01-01"/></rule><nvpair id="a1" name="failure-timeout" value="1min"/></meta_attributes>'
            '<meta_attributes id="b"><nvpair id="b1" name="failure-timeout" value="5min"/></meta_attributes>'
            '<meta_attributes id="c"><nvpair id="c1" name="failure-timeout" value="9min"/></meta_attributes>'
            '</rsc_defaults>')
    assert parse_resource_defaults(text) == {"failure-timeout": "5min"}
    with pytest.raises(StatusError, match="rsc_defaults section starts with <resources>"):
        parse_resource_defaults(_read("resources-healthy.xml"))

    status = _status("crm_mon-vm-failed-start-pacemaker3.xml", "resources-healthy-pacemaker3.xml")
    assert failed_start_times(status, "vm-speedauth") == {"servvirt2": "2026-12-04 17:42:52Z",
                                                          "servvirt1": "2026-12-04 17:42:51Z"}
    assert failed_start_times(status, "vm-passata") == {}
    assert failure_timeout(status, "vm-speedauth") == ""
    status["resource_defaults"] = defaults
    assert failure_timeout(status, "vm-speedauth") == "10min"
    for zero in ("0", "0s", "0 min", "0ms", "00", "0hr"):
        status["resources"]["vm-speedauth"]["meta"]["failure-timeout"] = zero
        assert failure_timeout(status, "vm-speedauth") == "", zero
    # Not a time spec pacemaker's parser takes: shown as written, never read as "no timeout".
    status["resources"]["vm-speedauth"]["meta"]["failure-timeout"] = "soon"
    assert failure_timeout(status, "vm-speedauth") == "soon"
    status["resources"]["vm-speedauth"]["meta"]["failure-timeout"] = "2h"
    assert failure_timeout(status, "vm-speedauth") == "2h"


@pytest.mark.parametrize("spec, seconds", [
    ("90", 90), (90, 90), ("90s", 90), ("2min", 120), ("2 m", 120), ("1h", 3600), ("1hr", 3600), ("500ms", 0.5),
    ("0", 0), ("10 sec", 10), ("soon", None), ("1d", None), ("", None), (True, None), (None, None), ("-5s", None),
])
def test_pacemaker_time_specs_in_seconds(spec, seconds):
    from ansible_collections.havirt.cluster.plugins.module_utils.pacemaker_status import duration_seconds
    assert duration_seconds(spec) == seconds
