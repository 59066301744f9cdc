"""The pacemaker_xml filters (what the pacemaker role decides from crm_mon's
and the CIB's XML) on the captures of pacemaker 2.1.5 (Debian 12) and 3.0.0
(Debian 13) in module_utils/fixtures/pacemaker_status (its README says how
each was taken), and on the cases no capture shows yet, each made from a
capture the way pacemaker writes it (lib/pengine/native.c: a <resource>'s
attributes are id, resource_agent, role, target_role if set, active, ...)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.filter.pacemaker_xml import (
    FilterModule, cib_constraints_of, cib_meta_attributes, cib_primitive_ids, crm_mon_active, crm_mon_failed_starts,
    crm_mon_not_started, crm_mon_online_nodes, crm_mon_quorum, fence_history, fence_history_summary)

FIXTURES = Path(__file__).parents[1] / "module_utils" / "fixtures" / "pacemaker_status"
# crm_mon --one-shot --output-as=xml, and cibadmin --query --scope resources, of a healthy lab cluster.
MON = {"2.1.5": "crm_mon-healthy.xml", "3.0.0": "crm_mon-healthy-pacemaker3.xml"}
RESOURCES = {"2.1.5": "resources-healthy.xml", "3.0.0": "resources-healthy-pacemaker3.xml"}
VERSIONS = sorted(MON)
VMS = ["vm-passata", "vm-speedauth", "vm-masterauth"]


def _read(name):
    return (FIXTURES / name).read_text()


def _mon_with(version, rid, **attributes):
    """A capture with one <resource>'s attributes changed (role, target_role...) as crm_mon writes them."""
    text = _read(MON[version])
    start = text.index('<resource id="%s"' % rid)
    end = text.index(">", start)
    line = text[start:end]
    for name, value in attributes.items():
        if ' %s="' % name in line:
            head, _sep, rest = line.partition(' %s="' % name)
            line = head + ' %s="%s"' % (name, value) + rest[rest.index('"'):][1:]
        else:  # target_role: right after role, as pacemaker prints it
            head, _sep, rest = line.partition(' role="')
            role_end = rest.index('"') + 1
            line = head + ' role="' + rest[:role_end] + ' %s="%s"' % (name, value) + rest[role_end:]
    return text[:start] + line + text[end:]


def test_every_filter_is_registered():
    assert sorted(FilterModule().filters()) == [
        "cib_constraints_of", "cib_meta_attributes", "cib_primitive_ids", "crm_mon_active", "crm_mon_failed_starts",
        "crm_mon_not_started", "crm_mon_online_nodes", "crm_mon_quorum", "fence_history", "fence_history_summary"]


# --- crm_mon: the nodes and quorum (roles/pacemaker/tasks/main.yml) ---

@pytest.mark.parametrize("version", VERSIONS)
def test_every_node_online_with_quorum(version):
    mon = _read(MON[version])
    assert crm_mon_online_nodes(mon) == ["servdb", "servvirt1", "servvirt2"]
    assert crm_mon_quorum(mon) is True


@pytest.mark.parametrize("name", ["crm_mon-maintenance-unmanaged.xml", "crm_mon-failed-action.xml"])
def test_nodes_and_quorum_in_the_other_captures(name):
    assert crm_mon_online_nodes(_read(name)) == ["servdb", "servvirt1", "servvirt2"]
    assert crm_mon_quorum(_read(name)) is True


@pytest.mark.parametrize("version", VERSIONS)
def test_an_offline_node_and_no_quorum(version):
    mon = _read(MON[version])
    mon = mon.replace('<node name="servvirt2" id="3" online="true"', '<node name="servvirt2" id="3" online="false"')
    mon = mon.replace('with_quorum="true"', 'with_quorum="false"')
    assert crm_mon_online_nodes(mon) == ["servdb", "servvirt1"]
    assert crm_mon_quorum(mon) is False


def test_online_is_read_whatever_the_attributes_order():
    mon = """<pacemaker-result api-version="2.38" request="crm_mon">
      <summary><current_dc present="true" name="a" id="1" with_quorum="true"/></summary>
      <nodes>
        <node id="1" name="a" online="true"/>
        <node online="true" name="b" id="2"/>
        <node name="c" id="3" standby="false" online="true"/>
      </nodes>
    </pacemaker-result>"""
    assert crm_mon_online_nodes(mon) == ["a", "b", "c"]


# The cluster not running: crm_mon's XML error document (pacemaker 2.1 and 3.0 print one), or nothing.
NOT_CONNECTED = """<pacemaker-result api-version="2.38" request="crm_mon --one-shot --output-as=xml">
  <status code="102" message="Not connected">
    <errors>
      <error>crm_mon: Error: cluster is not available on this node</error>
    </errors>
  </status>
</pacemaker-result>"""


@pytest.mark.parametrize("text", ["", "  \n", None, NOT_CONNECTED])
def test_no_cluster_yet_means_no_node_no_quorum_nothing_started(text):
    assert crm_mon_online_nodes(text) == []
    assert crm_mon_quorum(text) is False
    assert crm_mon_not_started(text, VMS) == VMS


# --- crm_mon: the VMs to wait for (roles/pacemaker/tasks/cib.yml) ---

@pytest.mark.parametrize("version", VERSIONS)
def test_every_vm_started(version):
    assert crm_mon_not_started(_read(MON[version]), VMS) == []


@pytest.mark.parametrize("name", ["crm_mon-maintenance-unmanaged.xml", "crm_mon-failed-action.xml"])
def test_unmanaged_and_failed_captures_still_run_their_vms(name):
    # 2.1.5: vm-passata in maintenance and unmanaged, vm-speedauth unmanaged; a Dummy's failed action.
    assert crm_mon_not_started(_read(name), VMS + ["status-dummy"] * ("failed" in name)) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_vm_the_cluster_does_not_show_is_waited_for(version):
    assert crm_mon_not_started(_read(MON[version]), ["vm-new"] + VMS) == ["vm-new"]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_vm_not_active_yet_is_waited_for(version):
    mon = _mon_with(version, "vm-speedauth", role="Stopped", active="false")
    assert crm_mon_not_started(mon, VMS) == ["vm-speedauth"]
    # A start under way (crm_mon shows pending actions as the role).
    mon = _mon_with(version, "vm-speedauth", role="Starting", active="false")
    assert crm_mon_not_started(mon, VMS) == ["vm-speedauth"]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("target", ["Stopped", "stopped"])
def test_a_vm_stopped_on_purpose_is_not_waited_for(version, target):
    # crm_resource --meta --set-parameter target-role --parameter-value Stopped (pcs resource disable); pacemaker
    # reads the role in any case, so a VM stopped with "stopped" stays stopped too and must not be waited for.
    mon = _mon_with(version, "vm-speedauth", role="Stopped", target_role=target, active="false")
    assert 'role="Stopped" target_role="%s" active="false"' % target in mon
    assert crm_mon_not_started(mon, VMS) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_target_role_started_is_not_taken_for_the_role(version):
    # crmsh's "crm resource start" leaves target-role=Started: a VM being stopped (recovery after a failed
    # monitor) is still active, its role Stopping; it is not running as it should yet.
    mon = _mon_with(version, "vm-speedauth", role="Stopping", target_role="Started")
    assert 'role="Stopping" target_role="Started" active="true"' in mon
    assert crm_mon_not_started(mon, VMS) == ["vm-speedauth"]


def test_vms_in_a_group_or_a_clone_are_found_by_their_own_id():
    mon = """<pacemaker-result api-version="2.38" request="crm_mon --one-shot --output-as=xml">
      <summary><current_dc present="true" name="a" id="1" with_quorum="true"/></summary>
      <nodes><node name="a" id="1" online="true"/></nodes>
      <resources>
        <group id="g" number_resources="2" maintenance="false" managed="true" disabled="false">
          <resource id="vm-a" resource_agent="ocf:heartbeat:VirtualDomain" role="Started" active="true"
                    orphaned="false" blocked="false" managed="true" failed="false" failure_ignored="false"
                    nodes_running_on="1"><node name="a" id="1" cached="true"/></resource>
          <resource id="vm-b" resource_agent="ocf:heartbeat:VirtualDomain" role="Stopped" active="false"
                    orphaned="false" blocked="false" managed="true" failed="false" failure_ignored="false"
                    nodes_running_on="0"/>
        </group>
        <clone id="c-clone" multi_state="false" unique="false" maintenance="false" managed="true" disabled="false"
               failed="false" failure_ignored="false">
          <resource id="vm-c" resource_agent="ocf:heartbeat:VirtualDomain" role="Started" active="true"
                    orphaned="false" blocked="false" managed="true" failed="false" failure_ignored="false"
                    nodes_running_on="1"><node name="a" id="1" cached="true"/></resource>
        </clone>
      </resources>
    </pacemaker-result>"""
    assert crm_mon_not_started(mon, ["vm-a", "vm-b", "vm-c", "g", "c-clone"]) == ["vm-b", "g", "c-clone"]


def test_the_ids_may_come_from_a_jinja_map():
    assert crm_mon_not_started(_read(MON["3.0.0"]), (rid for rid in ["vm-x", "vm-passata"])) == ["vm-x"]


# --- the CIB's resources section (cib.yml, templates/vm-resource.xml.j2) ---

@pytest.mark.parametrize("version", VERSIONS)
def test_the_vms_the_cluster_has(version):
    resources = _read(RESOURCES[version])
    assert cib_primitive_ids(resources, "vm-") == ["passata", "speedauth", "masterauth"]
    assert cib_primitive_ids(resources) == ["fence-lab", "havirt-storage"] + VMS
    assert cib_primitive_ids(resources, "drbd-") == []


@pytest.mark.parametrize("text", ["", "\n", None, "<resources/>"])
def test_no_resources(text):
    assert cib_primitive_ids(text, "vm-") == []
    assert cib_meta_attributes(text, "vm-passata") == {}


def test_primitives_in_groups_and_clones_count_and_the_others_do_not():
    resources = """<resources>
      <group id="vm-group"><primitive id="vm-a" class="ocf" provider="heartbeat" type="VirtualDomain"/></group>
      <clone id="vm-c-clone"><primitive id="vm-c" class="ocf" provider="heartbeat" type="VirtualDomain"/></clone>
      <primitive class="ocf" provider="heartbeat" type="VirtualDomain" id="vm-b"/>
      <primitive id="vm-" class="ocf" provider="heartbeat" type="Dummy"/>
    </resources>"""
    assert cib_primitive_ids(resources, "vm-") == ["a", "c", "b"]


def test_the_prefix_is_text_not_a_pattern():
    resources = '<resources><primitive id="vmXpassata" class="ocf" type="Dummy"/></resources>'
    assert cib_primitive_ids(resources, "vm.") == []


@pytest.mark.parametrize("version", VERSIONS)
def test_a_healthy_vms_meta_attributes(version):
    resources = _read(RESOURCES[version])
    for rid in VMS:
        assert cib_meta_attributes(resources, rid) == {"allow-migrate": "true"}
    assert cib_meta_attributes(resources, "fence-lab") == {}
    assert cib_meta_attributes(resources, "vm-new") == {}


def test_what_an_administrator_and_a_killed_move_left():
    resources = _read("resources-maintenance-unmanaged.xml")
    assert cib_meta_attributes(resources, "vm-passata") == {
        "allow-migrate": "true", "havirt-move": "servvirt1:servvirt2", "maintenance": "true"}
    assert cib_meta_attributes(resources, "vm-speedauth") == {"allow-migrate": "true", "is-managed": "false"}
    assert cib_meta_attributes(resources, "vm-masterauth") == {"allow-migrate": "true"}


def test_meta_attributes_whatever_the_attributes_order_and_escaping():
    # A pair written by hand (cibadmin --modify) need not have name before value.
    resources = """<resources><primitive id="vm-a" class="ocf" provider="heartbeat" type="VirtualDomain">
      <meta_attributes id="vm-a-meta_attributes">
        <nvpair value="Stopped" name="target-role" id="vm-a-meta_attributes-target-role"/>
        <nvpair id="vm-a-meta_attributes-note" name="note" value="a &amp; b &quot;c&quot;"/>
      </meta_attributes>
    </primitive></resources>"""
    assert cib_meta_attributes(resources, "vm-a") == {"target-role": "Stopped", "note": 'a & b "c"'}


def test_the_first_value_counts_as_pacemaker_reads_it():
    resources = """<resources><primitive id="vm-a" class="ocf" provider="heartbeat" type="VirtualDomain">
      <meta_attributes id="first">
        <nvpair id="first-target-role" name="target-role" value="Stopped"/>
        <nvpair id="first-target-role-again" name="target-role" value="Started"/>
      </meta_attributes>
      <meta_attributes id="second">
        <nvpair id="second-target-role" name="target-role" value="Started"/>
        <nvpair id="second-maintenance" name="maintenance" value="true"/>
      </meta_attributes>
      <operations><op id="vm-a-monitor" name="monitor" interval="10s">
        <meta_attributes id="op-meta"><nvpair id="op-meta-is-managed" name="is-managed" value="false"/></meta_attributes>
      </op></operations>
    </primitive></resources>"""
    # An operation's own meta attributes are not the resource's.
    assert cib_meta_attributes(resources, "vm-a") == {"target-role": "Stopped", "maintenance": "true"}


# --- what is not pacemaker's XML ---

SECRET = "lab-only-fence-secret"


@pytest.mark.parametrize("call", [
    lambda text: cib_primitive_ids(text, "vm-"),
    lambda text: cib_meta_attributes(text, "vm-passata"),
])
@pytest.mark.parametrize("text,message", [
    ('<resources><primitive id="fence" password="%s">' % SECRET, "cibadmin's resources section is not well-formed XML"),
    ("Could not connect to the CIB: %s" % SECRET, "cibadmin's resources section is not well-formed XML"),
    ('<cib><configuration password="%s"/></cib>' % SECRET, "starts with <cib>, not <resources>"),
])
def test_not_a_resources_section_fails_without_quoting_it(call, text, message):
    with pytest.raises(AnsibleFilterError, match=message) as failure:
        call(text)
    assert SECRET not in str(failure.value)


@pytest.mark.parametrize("call", [
    crm_mon_online_nodes, crm_mon_quorum, lambda text: crm_mon_not_started(text, VMS)])
@pytest.mark.parametrize("text,message", [
    ("crm_mon: Error: cluster is not available on this node", "crm_mon's output is not well-formed XML"),
    ('<pacemaker-result api-version="2.38"><nodes>', "crm_mon's output is not well-formed XML"),
    ("<resources/>", "starts with <resources>, not <pacemaker-result>"),
])
def test_not_crm_mon_xml_fails_saying_why(call, text, message):
    with pytest.raises(AnsibleFilterError, match=message):
        call(text)


@pytest.mark.parametrize("call", [crm_mon_online_nodes, lambda value: cib_primitive_ids(value, "vm-")])
def test_not_a_string_fails(call):
    with pytest.raises(AnsibleFilterError, match="expected a command's output"):
        call({"stdout": "<resources/>"})


# --- stonith_admin's fencing history (status.yml) ---
# fixtures/stonith_admin: real output of pacemaker 2.1.5 (its README says how it was taken) and one
# pacemaker 3.0.0 document made from a real 3.0.0 event line.

FENCING = Path(__file__).parent / "fixtures" / "stonith_admin"


def _ran(name):
    """The registered result of the command that printed ``name``.{stdout,stderr,rc}."""
    read = {ext: (FENCING / ("%s.%s" % (name, ext))).read_text() for ext in ("stdout", "stderr", "rc")}
    return {"changed": False, "rc": int(read["rc"]), "stdout": read["stdout"].rstrip("\n"),
            "stderr": read["stderr"].rstrip("\n")}


def _text_events(name):
    """The events stonith_admin --history '*' --verbose printed, without its "N events found" line."""
    lines = _ran(name)["stdout"].splitlines()
    assert re.fullmatch(r"\d+ events? found", lines[-1])
    return lines[:-1]


SERVVIRT1 = {"action": "reboot", "target": "servvirt1", "status": "success", "exit_reason": "",
             "delegate": "servdb", "client": "stonith_admin.31195", "origin": "servdb",
             "completed": "2026-12-01 19:45:01Z"}


def test_three_events_newest_first():
    assert fence_history(_ran("history-three-2.1.5")["stdout"]) == [
        {"action": "reboot", "target": "servvirt3", "status": "success", "exit_reason": "", "delegate": "servdb",
         "client": "stonith_admin.31230", "origin": "servdb", "completed": "2026-12-01 19:45:22Z"},
        {"action": "off", "target": "servvirt2", "status": "failed", "exit_reason": "", "delegate": "servdb",
         "client": "stonith_admin.31203", "origin": "servdb", "completed": "2026-12-01 19:45:02Z"},
        SERVVIRT1]


def test_a_pending_event_comes_first():
    events = fence_history(_ran("history-pending-2.1.5")["stdout"])
    assert [(e["target"], e["status"], e["delegate"], e["completed"]) for e in events] == [
        ("servvirt3", "pending", "", ""), ("servvirt2", "failed", "servdb", "2026-12-01 19:45:02Z"),
        ("servvirt1", "success", "servdb", "2026-12-01 19:45:01Z")]


def test_without_verbose_stonith_admin_shows_only_the_oldest_success():
    """Why status.yml asks with --verbose: the same history, asked without it."""
    assert fence_history(_ran("history-three-2.1.5-not-verbose")["stdout"]) == [SERVVIRT1]


def test_pacemaker_3_without_verbose_also_shows_only_the_oldest_success():
    """The same on pacemaker 3.0.0 (the trixie container lab after its five hard crashes and a cut link)."""
    verbose = fence_history(_ran("history-three-3.0.0")["stdout"])
    assert len(verbose) == 6
    assert fence_history(_ran("history-three-3.0.0-not-verbose")["stdout"]) == [verbose[-1]]


@pytest.mark.parametrize("name", ["history-three-2.1.5", "history-pending-2.1.5", "history-three-3.0.0"])
def test_each_event_in_stonith_admins_own_words(name):
    """The status line says what status.yml printed from the text form before: the same events, the same words."""
    assert fence_history_summary(_ran(name), 3) == " | ".join(_text_events(name + "-text")[:3])


def test_pacemaker_3_microseconds_and_the_controller_as_client():
    # Made from the real 3.0.0 event line (fixtures/stonith_admin/README.md).
    assert fence_history_summary(_ran("history-one-3.0.0-constructed")) == (
        "reboot of servvirt2 successful: delegate=servdb, client=pacemaker-controld.2761, origin=servdb, "
        "completed='2026-12-01 19:18:19.988110Z'")


def test_a_failed_event_with_its_reason():
    # Made from the 2.1.5 capture: stonith_event_xml writes exit-reason on a failed event when the fencer has one.
    text = _ran("history-three-2.1.5")["stdout"].replace(
        'status="failed"', 'status="failed" exit-reason="Agent fence_cap did not answer"')
    assert fence_history(text)[1]["exit_reason"] == "Agent fence_cap did not answer"
    assert fence_history_summary({"rc": 0, "stdout": text}, 2).split(" | ")[1] == (
        "turning off of servvirt2 failed (Agent fence_cap did not answer): delegate=servdb, "
        "client=stonith_admin.31203, origin=servdb, completed='2026-12-01 19:45:02Z'")


HISTORY_SUMMARIES = [
    ("no fencing yet", lambda: _ran("history-none-2.1.5"), 3, "none"),
    ("the newest of three", lambda: _ran("history-three-2.1.5"), 1,
     "reboot of servvirt3 successful: delegate=servdb, client=stonith_admin.31230, origin=servdb, "
     "completed='2026-12-01 19:45:22Z'"),
    ("the fencer not running", lambda: _ran("history-no-fencer-2.1.5"), 3,
     "unknown (stonith_admin: Could not connect to fencer: Transport endpoint is not connected)"),
    ("stonith_admin not installed", lambda: json.loads((FENCING / "command-stonith_admin-missing.json").read_text()),
     3, "unknown (stonith_admin: [Errno 2] No such file or directory: b'stonith_admin')"),
    ("a failure saying why on stderr only", lambda: {"rc": 137, "stdout": "", "stderr": "Killed"}, 3,
     "unknown (stonith_admin: Killed)"),
    ("a failure that printed something else than XML",
     lambda: {"rc": 64, "stdout": "Unknown option\nUsage", "stderr": ""}, 3, "unknown (stonith_admin: Unknown option)"),
    ("a host that did not run the task", dict, 3, "unknown (stonith_admin did not run)"),
    ("a skipped task", lambda: {"skipped": True, "changed": False}, 3, "unknown (stonith_admin did not run)"),
    ("exit code 0 and nothing printed", lambda: {"rc": 0, "stdout": "", "stderr": ""}, 3,
     "unknown (stonith_admin printed nothing)"),
]


@pytest.mark.parametrize("result, count, expected", [case[1:] for case in HISTORY_SUMMARIES],
                         ids=[case[0] for case in HISTORY_SUMMARIES])
def test_fence_history_summary(result, count, expected):
    assert fence_history_summary(result(), count) == expected


def test_fence_history_of_nothing_is_empty():
    assert fence_history("") == []
    assert fence_history(None) == []
    assert fence_history(_ran("history-none-2.1.5")["stdout"]) == []


def test_a_history_that_could_not_be_read_is_not_an_empty_one():
    with pytest.raises(AnsibleFilterError, match="^fence_history: Could not connect to fencer: "
                                                 "Transport endpoint is not connected$"):
        fence_history(_ran("history-no-fencer-2.1.5")["stdout"])


NOT_HISTORY = [
    ("the text form (what status.yml ran before)", _ran("history-three-2.1.5-text")["stdout"],
     "stonith_admin's output is not well-formed XML"),
    ("crm_mon's XML", _read(MON["2.1.5"]), "stonith_admin's output has no fencing history list"),
    ("no status", '<pacemaker-result><list name="fencing history" count="0"/></pacemaker-result>',
     "stonith_admin's output has no <status>"),
    ("another document", "<fence_history/>",
     "stonith_admin's output starts with <fence_history>, not <pacemaker-result>"),
    ("an event without a status", _ran("history-three-2.1.5")["stdout"].replace(' status="failed"', ""),
     "a <fence_event> without an action, a target or a known status"),
]


@pytest.mark.parametrize("text, message", [case[1:] for case in NOT_HISTORY], ids=[case[0] for case in NOT_HISTORY])
def test_not_stonith_admins_xml_fails_saying_why(text, message):
    with pytest.raises(AnsibleFilterError, match="^fence_history: " + re.escape(message)):
        fence_history(text)
    with pytest.raises(AnsibleFilterError, match="^fence_history_summary: " + re.escape(message)):
        fence_history_summary({"rc": 0, "stdout": text, "stderr": ""})


@pytest.mark.parametrize("value", [None, "0 events found", ["rc", 0]])
def test_the_summary_needs_the_registered_result(value):
    with pytest.raises(AnsibleFilterError, match="^fence_history_summary: expected the registered result"):
        fence_history_summary(value)


# --- removing a VM (roles/pacemaker/tasks/remove_vms.yml) ---

CONSTRAINTS = Path(__file__).parent / "fixtures" / "constraints-vms-pacemaker3.xml"


@pytest.mark.parametrize("version", VERSIONS)
def test_running_vms_are_active_and_unknown_ones_are_not(version):
    assert crm_mon_active(_read(MON[version]), ["vm-gone"] + VMS) == VMS


def test_a_stopped_vm_is_not_active():
    mon = _read("crm_mon-vm-stopped-pacemaker3.xml")
    assert crm_mon_active(mon, VMS) == ["vm-passata", "vm-speedauth"]
    assert crm_mon_active("", VMS) == []


def test_a_vm_stopping_is_still_active():
    # While VirtualDomain stops it, crm_mon shows the resource on its node.
    assert crm_mon_active(_mon_with("3.0.0", "vm-masterauth", role="Stopping"), ["vm-masterauth"]) == ["vm-masterauth"]


def test_each_constraint_naming_the_vm_and_no_other():
    text = CONSTRAINTS.read_text()
    assert cib_constraints_of(text, ["vm-masterauth"]) == [
        "vm-masterauth-only-on-hypervisors", "vm-masterauth-preferred", "vm-masterauth-after-storage"]
    assert cib_constraints_of(text, ["vm-unknown"]) == []
    assert cib_constraints_of("", ["vm-masterauth"]) == []


def test_colocations_sets_and_both_ends_count():
    # Made from the capture: an avoid pair as the role writes it (vm-avoid.xml.j2), and a set as pcs writes one.
    text = CONSTRAINTS.read_text().replace("</constraints>", (
        '<rsc_colocation id="vm-speedauth-avoids-vm-masterauth" rsc="vm-speedauth" with-rsc="vm-masterauth" '
        'score="-1000"/><rsc_order id="by-hand"><resource_set id="by-hand-0"><resource_ref id="vm-passata"/>'
        '<resource_ref id="vm-masterauth"/></resource_set></rsc_order></constraints>'))
    assert cib_constraints_of(text, ["vm-masterauth"])[-2:] == ["vm-speedauth-avoids-vm-masterauth", "by-hand"]
    assert "vm-speedauth-avoids-vm-masterauth" in cib_constraints_of(text, ["vm-speedauth"])


def test_constraints_that_are_not_the_section_fail():
    with pytest.raises(AnsibleFilterError, match="starts with <resources>"):
        cib_constraints_of("<resources/>", ["vm-a"])
    with pytest.raises(AnsibleFilterError, match="not well-formed"):
        cib_constraints_of("<constraints>", ["vm-a"])


# --- crm_mon: the VMs whose start failed (roles/pacemaker/tasks/cib.yml) ---

def test_a_vm_stopped_after_its_start_failed_on_both_hypervisors_is_given_with_each_reason():
    """Captured after speedauth's definition was broken on both hypervisors
    and its QEMU killed (the fixtures' README)."""
    mon = _read("crm_mon-vm-failed-start-pacemaker3.xml")
    assert crm_mon_failed_starts(mon, VMS) == {"vm-speedauth": [
        ["servvirt2", "Failed to start virtual domain speedauth"],
        ["servvirt1", "Failed to start virtual domain speedauth"]]}
    assert crm_mon_not_started(mon, VMS) == ["vm-speedauth"]


def test_nothing_failed_or_a_failed_start_that_ran_elsewhere_gives_nothing():
    assert crm_mon_failed_starts(_read(MON["3.0.0"]), VMS) == {}
    assert crm_mon_failed_starts(_read(MON["2.1.5"]), VMS) == {}
    assert crm_mon_failed_starts("", VMS) == {}
    # The capture's speedauth started after all (its failures not cleared yet): nothing to retry.
    text = _read("crm_mon-vm-failed-start-pacemaker3.xml")
    running = text.replace('<resource id="vm-speedauth" resource_agent="ocf:heartbeat:VirtualDomain" role="Stopped" '
                           'active="false"', '<resource id="vm-speedauth" resource_agent="ocf:heartbeat:VirtualDomain" '
                           'role="Started" active="true"')
    assert running != text
    assert crm_mon_failed_starts(running, VMS) == {}


def test_a_failed_start_of_a_vm_stopped_on_purpose_is_not_retried():
    text = _read("crm_mon-vm-failed-start-pacemaker3.xml").replace(
        '<resource id="vm-speedauth" resource_agent="ocf:heartbeat:VirtualDomain" role="Stopped" ',
        '<resource id="vm-speedauth" resource_agent="ocf:heartbeat:VirtualDomain" role="Stopped" '
        'target_role="Stopped" ')
    assert crm_mon_failed_starts(text, VMS) == {}
