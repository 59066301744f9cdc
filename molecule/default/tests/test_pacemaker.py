"""The cluster manager (pacemaker role): corosync 3 over knet with the
inventory's key and addresses, three voting nodes with quorum, the
inventory's properties and fence device; a re-run restores what the role
owns and keeps what it did not create; a crashed hypervisor is fenced for
real (its container killed and started again by the lab's fence agent) and
rejoins by itself. The crash runs last in this file."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
import xml.etree.ElementTree as ET

import pytest

from labkit import vms as lab_vms


def _mon(inv, name):
    return ET.fromstring(inv.node(name).check_output("crm_mon --one-shot --output-as=xml"))


def _pacemaker(inv, var):
    return inv.role_var(inv.group("cluster")[0], "pacemaker", var)


def _online(inv, name):
    try:
        return sorted(n.get("name") for n in _mon(inv, name).iter("node") if n.get("online") == "true")
    except Exception:  # noqa: BLE001 - the node may be booting
        return []


def test_corosync_links_are_encrypted_knet_between_the_inventory_addresses(inv, node_name):
    node = inv.node(node_name)
    cmap = node.check_output("corosync-cmapctl")
    assert re.search(r"^totem\.transport \(str\) = knet$", cmap, re.M), cmap
    assert f"totem.crypto_cipher (str) = {_pacemaker(inv, 'pacemaker_corosync_crypto_cipher')}" in cmap
    assert f"totem.crypto_hash (str) = {_pacemaker(inv, 'pacemaker_corosync_crypto_hash')}" in cmap
    names = dict(re.findall(r"^nodelist\.node\.(\d+)\.name \(str\) = (\S+)$", cmap, re.M))
    rings = dict(re.findall(r"^nodelist\.node\.(\d+)\.ring0_addr \(str\) = (\S+)$", cmap, re.M))
    assert {names[i]: rings[i] for i in names} == \
        {h: inv.hostvars(h)["havirt_cluster_address"] for h in inv.group("cluster")}, cmap
    # Every link of this node is up (corosync-cfgtool: one line per peer).
    links = node.check_output("corosync-cfgtool -s")
    assert links.count("connected") >= len(inv.group("cluster")) - 1, links
    key = node.file("/etc/corosync/authkey")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o400)
    expected = hashlib.sha256(_pacemaker(inv, "pacemaker_corosync_authkey").encode()).hexdigest()
    assert node.check_output("sha256sum /etc/corosync/authkey").split()[0] == expected


def test_corosync_runs_real_time_so_load_cannot_starve_the_token(inv, node_name):
    # corosync asks for SCHED_RR itself; a node where it could not (the lab
    # once ran it as an ordinary process) can miss the token when busy, be
    # declared lost and fenced for nothing.
    policy = inv.node(node_name).check_output("chrt -p $(pidof corosync)")
    assert "SCHED_RR" in policy, policy


def test_every_node_is_online_and_votes(inv, node_name):
    assert _online(inv, node_name) == inv.group("cluster")
    quorum = inv.node(node_name).check_output("corosync-quorumtool -s")
    assert re.search(r"^Quorate:\s+Yes$", quorum, re.M), quorum
    assert re.search(rf"^Expected votes:\s+{len(inv.group('cluster'))}$", quorum, re.M), quorum


def test_properties_and_fence_device_are_the_inventory_ones(inv):
    node = inv.node(inv.group("storage")[0])

    def attribute(kind, name):
        return node.check_output(f"crm_attribute --type {kind} --name {name} --query --quiet")
    assert attribute("crm_config", "stonith-enabled") == "true"
    for name, value in _pacemaker(inv, "pacemaker_cluster_properties").items():
        assert attribute("crm_config", name) == str(value)
    for name, value in _pacemaker(inv, "pacemaker_resource_defaults").items():
        assert attribute("rsc_defaults", name) == str(value)
    devices = _pacemaker(inv, "pacemaker_fence_devices")
    resources = {r.get("id"): r for r in _mon(inv, inv.group("storage")[0]).iter("resource")}
    for device in devices:
        assert resources[device["name"]].get("resource_agent") == f"stonith:{device['agent']}"
        assert resources[device["name"]].get("active") == "true", ET.tostring(resources[device["name"]])
        for target in device["targets"]:
            # The fencer itself says which devices can fence a node.
            can = node.check_output(f"stonith_admin --list {target}")
            assert device["name"] in can.split(), can


@pytest.mark.usefixtures("probe_tools")
def test_the_mail_relays_login_is_hacluster_s_alone_and_not_in_the_cib(inv, node_name):
    """The relay's password is in a file only the alert agent's user reads;
    the CIB (readable by the haclient group, copied to every node) names
    the file, never the password. That the agent logs in with it and
    checks the relay's certificate, the mails of test_failover,
    test_backup and test_runbooks show (the lab's relay refuses a mail
    without both)."""
    node = inv.node(node_name)
    login = node.file("/etc/havirt/alert-mail-login.json")
    assert (login.user, login.group, login.mode) == ("hacluster", "haclient", 0o600)
    user = _pacemaker(inv, "pacemaker_alert_mail_user")
    password = _pacemaker(inv, "pacemaker_alert_mail_password")
    assert json.loads(login.content_string) == {"user": user, "password": password}
    alerts = node.check_output("cibadmin --query --scope alerts")
    assert 'name="relay_login_file" value="/etc/havirt/alert-mail-login.json"' in alerts, alerts
    assert 'name="relay_starttls" value="true"' in alerts, alerts
    assert password not in node.check_output("cibadmin --query")


def test_a_rerun_restores_what_the_role_owns_and_keeps_the_rest(inv, tmp_path):
    """An administrator's own resource and constraint survive the role, and a
    value of the role's own that drifted is set back (only that changes). A
    VM the administrator stopped by hand (crm_resource: target-role Stopped,
    on the role's own resource) stays stopped: a re-run does not start it."""
    node = inv.node(inv.group("storage")[0])
    stopped_vm = lab_vms.vms()[-1]["name"]
    stopped = lab_vms.resource(stopped_vm)
    node.check_output("crm_resource --resource %s --meta --set-parameter target-role --parameter-value Stopped", stopped)
    node.check_output("crm_resource --wait --timeout 60s")
    foreign_resource = '<primitive id="admin-dummy" class="ocf" provider="pacemaker" type="Dummy"/>'
    foreign_constraint = '<rsc_location id="admin-dummy-avoids-servdb" rsc="admin-dummy" node="servdb" score="-INFINITY"/>'
    node.check_output(f"cibadmin --create --scope resources --xml-text '{foreign_resource}'")
    node.check_output(f"cibadmin --create --scope constraints --xml-text '{foreign_constraint}'")
    node.check_output("crm_attribute --type rsc_defaults --set-name havirt-rsc-defaults "
                      "--name resource-stickiness --update 7")
    play = tmp_path / "pacemaker.yml"
    play.write_text(textwrap.dedent("""\
        - name: The cluster manager only
          hosts: cluster
          roles:
            - role: havirt.cluster.pacemaker
        """))
    try:
        run = lab_vms.playbook(str(play))
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        changed = [(task, host) for task, block in re.findall(r"^TASK \[(.*?)\] \**\n(.*?)(?=^TASK |^PLAY )",
                                                              run.stdout, re.M | re.S)
                   for host in re.findall(r"^changed: \[(\S+)\]", block, re.M)]
        assert changed == [("havirt.cluster.pacemaker : Set the resource defaults", inv.group("cluster")[0])], \
            run.stdout[-4000:]
        assert node.check_output("crm_attribute --type rsc_defaults --name resource-stickiness --query --quiet") == \
            str(_pacemaker(inv, "pacemaker_resource_defaults")["resource-stickiness"])
        assert "admin-dummy" in node.check_output("cibadmin --query --scope resources")
        assert "admin-dummy-avoids-servdb" in node.check_output("cibadmin --query --scope constraints")
        assert node.check_output("crm_resource --resource %s --meta --get-parameter target-role", stopped) == "Stopped"
        assert lab_vms.running_on(stopped_vm) == []
    finally:
        node.run("crm_resource --resource %s --meta --delete-parameter target-role", stopped)
        node.run("cibadmin --delete --xml-text '<rsc_location id=\"admin-dummy-avoids-servdb\"/>'")
        node.run("crm_resource --resource admin-dummy --set-parameter target-role --meta --parameter-value Stopped")
        node.run("crm_resource --wait --timeout 30s")
        node.run("cibadmin --delete --xml-text '<primitive id=\"admin-dummy\"/>'")
    lab_vms.wait_for_http(stopped_vm, timeout=120)
