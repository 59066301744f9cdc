"""Bad inventories are refused with a message that names the problem, and no
node is changed. Each case is a copy of the lab inventory with one fault,
run with `ansible-playbook site.yml` against the live lab. The cases run
three at a time (each is mostly Ansible starting up on this machine); the
nodes' files and the cluster's configuration are compared before and after
the whole batch, and each case's own recap must show no change."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

WATCHED = ["/etc/hosts", "/etc/chrony/chrony.conf", "/etc/default/chrony", "/etc/corosync/corosync.conf",
           "/etc/corosync/authkey"]
# Only on the storage node.
WATCHED_STORAGE = ["/etc/tgt/conf.d/havirt.conf", "/etc/systemd/system/tgt.service.d/havirt.conf"]
WATCHED_HYPERVISORS = ["/etc/iscsi/initiatorname.iscsi", "/etc/ocfs2/cluster.conf", "/etc/default/o2cb",
                       "/etc/havirt/vms/passata.xml", "/etc/systemd/network/60-havirt-brguest-port.network",
                       "/etc/drbd.d/global_common.conf", "/etc/drbd.d/havirt-scratch.res"]


def _fingerprint(inv):
    files = {
        name: inv.node(name).check_output(
            "sha256sum " + " ".join(WATCHED + (WATCHED_STORAGE if name in inv.group("storage") else [])
                                    + (WATCHED_HYPERVISORS if name in inv.group("hypervisors") else [])))
        for name in inv.group("cluster")
    }
    # The cluster's configuration, without its status and epoch counters.
    cib = inv.node(inv.group("storage")[0]).check_output("cibadmin --query --scope configuration")
    return files, cib


def _broken_inventory(tmp_path, inv, edit):
    target = tmp_path / "inventory"
    shutil.copytree(inv.inventory_path(), target, symlinks=False)
    hosts_file = target / "hosts.yml"
    data = yaml.safe_load(hosts_file.read_text())
    hosts = {}
    for group in ("storage", "hypervisors"):
        hosts.update(data["all"]["children"]["cluster"]["children"][group]["hosts"])
    key = inv.hostvars("servdb")["ansible_ssh_private_key_file"]
    for name, hvars in hosts.items():
        hvars["ansible_ssh_private_key_file"] = str(key)
        # Paths relative to the inventory (the lab's files, the cluster CA):
        # keep them pointing at the lab's from the copy.
        hvars["xen_migration_pki_dir"] = f"{inv.inventory_path()}-pki"
        for var in ("vms_files", "pacemaker_fence_agent_files"):
            if var in inv.hostvars(name):
                hvars[var] = json.loads(json.dumps(inv.hostvars(name)[var]))
    edit(data, hosts)
    hosts_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def _everywhere(hosts, **values):
    """Set values as host variables: they win over the lab's group_vars."""
    for hvars in hosts.values():
        hvars.update(values)


def _dup_address(data, hosts):
    hosts["servvirt2"]["havirt_cluster_address"] = hosts["servvirt1"]["havirt_cluster_address"]


def _dup_name(data, hosts):
    hosts["servdb"]["havirt_host_aliases"] = ["servvirt1"]


def _extra_entry_clash(data, hosts):
    _everywhere(hosts, hosts_extra_entries=[
        {"address": hosts["servdb"]["havirt_cluster_address"], "names": ["backup"]}])


def _no_time_source(data, hosts):
    _everywhere(hosts, ntp_local_stratum=0)


def _missing_backing_device(data, hosts):
    _everywhere(hosts, iscsi_target_luns=[{"path": "/dev/vg-missing/cluster"}])


def _short_chap_secret(data, hosts):
    _everywhere(hosts, havirt_iscsi_chap_password="short")


def _chap_secret_with_space(data, hosts):
    _everywhere(hosts, havirt_iscsi_chap_password="has a space in it")


def _initiator_name_clash(data, hosts):
    hosts["servvirt2"]["iscsi_initiator_name"] = "iqn.2026-11.org.havirt.lab:servvirt1"


def _hypervisors_group_missing(data, hosts):
    """A typo in the group name: the hypervisors are in no 'hypervisors' group."""
    cluster = data["all"]["children"]["cluster"]["children"]
    cluster["hypervisor"] = cluster.pop("hypervisors")


def _ocfs2_cluster_name(data, hosts):
    _everywhere(hosts, ocfs2_cluster_name="ha-virt")


def _ocfs2_node_number_clash(data, hosts):
    hosts["servvirt2"]["ocfs2_node_number"] = 0


def _vms_edited(hosts, change):
    """The lab's havirt_vms with passata changed (inventory-wide)."""
    from tests.lab import inventory
    # Plain types (Ansible's templated strings are not YAML-dumpable).
    lab_vms = json.loads(json.dumps(inventory.hostvars("servvirt1")["havirt_vms"]))
    change(lab_vms[0])
    _everywhere(hosts, havirt_vms=lab_vms)


def _vm_on_storage_node(data, hosts):
    _vms_edited(hosts, lambda vm: vm.update(preferred="servdb"))


def _vm_disk_on_ocfs2_lun(data, hosts):
    _vms_edited(hosts, lambda vm: vm.update(disk={"lun": 1}))


def _two_vms_one_disk(data, hosts):
    _vms_edited(hosts, lambda vm: vm.update(disk={"lun": 3}))


def _lab_fence_device(**changes):
    from tests.lab import inventory
    device = json.loads(json.dumps(inventory.hostvars("servdb")["pacemaker_fence_devices"][0]))
    device.update(changes)
    return device


def _two_node_cluster(data, hosts):
    _everywhere(hosts, pacemaker_cluster_group="hypervisors")


def _no_fencing(data, hosts):
    _everywhere(hosts, pacemaker_fence_devices=[])


def _node_not_fenceable(data, hosts):
    _everywhere(hosts, pacemaker_fence_devices=[_lab_fence_device(targets=["servvirt1", "servvirt2"])])


def _fence_device_unreachable(data, hosts):
    device = _lab_fence_device()
    device["options"]["ipport"] = 1
    _everywhere(hosts, pacemaker_fence_devices=[device])


def _unknown_storage_mode(data, hosts):
    _everywhere(hosts, havirt_storage_modes=["iscsi_ocfs2", "ceph"])


def _vm_on_unknown_drbd_resource(data, hosts):
    _vms_edited(hosts, lambda vm: vm.update(disk={"drbd": "nope"}))


def _drbd_short_secret(data, hosts):
    _everywhere(hosts, drbd_shared_secret="short")


def _drbd_config_drbdadm_refuses(data, hosts):
    """Passes the role's own checks; drbdadm refuses it (not a rate)."""
    _everywhere(hosts, drbd_resync_rate_max="fast")


def _drbd_minor_clash(data, hosts):
    _everywhere(hosts, havirt_drbd_resources=[{"name": "a", "minor": 1, "port": 7789, "disk": "/dev/vdb"},
                                              {"name": "b", "minor": 1, "port": 7790, "disk": "/dev/vdc"}])


def _bad_type(data, hosts):
    _everywhere(hosts, ntp_local_stratum="ten")


CASES = {
    "duplicate-address": (_dup_address, r"duplicate address 10\.210\.1\.11: used by servvirt1 and servvirt2"),
    "duplicate-name": (_dup_name, r"duplicate name servvirt1: given to (servdb \(10\.210\.1\.10\) and servvirt1 \(10\.210\.1\.11\)|servvirt1 \(10\.210\.1\.11\) and servdb \(10\.210\.1\.10\))"),
    "extra-entry-clash": (_extra_entry_clash, r"duplicate address 10\.210\.1\.10: used by servdb and extra entry backup"),
    "no-time-source": (_no_time_source, r"ntp_upstream_servers is empty and ntp_local_stratum is 0"),
    "bad-type": (_bad_type, r"ntp_local_stratum.*(int|integer)"),
    "missing-backing-device": (_missing_backing_device,
                               r"/dev/vg-missing/cluster on servdb: does not exist\. Create the block device"),
    "ocfs2-cluster-name": (_ocfs2_cluster_name, r"The OCFS2 cluster 'ha-virt' needs: a name of 1-16 letters and digits"),
    "ocfs2-node-number-clash": (_ocfs2_node_number_clash, r"node number 0-254 \(0, 0\)"),
    "short-chap-secret": (_short_chap_secret, r"CHAP settings the target would reject"),
    "chap-secret-with-space": (_chap_secret_with_space, r"CHAP settings the target would reject"),
    "initiator-name-clash": (_initiator_name_clash,
                             r"needs every host of group 'hypervisors' with its own valid, unique iscsi_initiator_name"),
    "vm-on-storage-node": (_vm_on_storage_node, r"a preferred hypervisor of group 'hypervisors' \(servvirt1, servvirt2\): "
                                                r"a VM never runs on the storage node\. At fault: passata\."),
    "vm-disk-on-ocfs2-lun": (_vm_disk_on_ocfs2_lun, r"or the LUN that holds the OCFS2 store \(LUN 1\).*LUNs named: 1, 3, 4"),
    "two-vms-one-disk": (_two_vms_one_disk, r"Two VMs would share a disk.*LUNs named: 3, 3, 4"),
    "two-node-cluster": (_two_node_cluster, r"pacemaker needs three or more nodes in group 'hypervisors'; it has 2 "
                                            r"\(servvirt1, servvirt2\)"),
    "no-fencing": (_no_fencing, r"No fence device \(pacemaker_fence_devices is empty\)\. Without fencing"),
    "node-not-fenceable": (_node_not_fenceable, r"No fence device targets servdb: the cluster could never recover"),
    "fence-device-unreachable": (_fence_device_unreachable,
                                 r"Fence device fence-lab \(fence_podman\) cannot reach servvirt\d from \w+: rc 1, "
                                 r"fence_podman: cannot reach the libpod API at 10\.210\.1\.1:1\b"),
    "unknown-storage-mode": (_unknown_storage_mode, r"havirt_storage_modes must list iscsi_ocfs2 .* got \['iscsi_ocfs2', 'ceph'\]"),
    "vm-on-unknown-drbd-resource": (_vm_on_unknown_drbd_resource,
                                    r"a VM on DRBD \(\{drbd\}: passata\) needs drbd, a resource of havirt_drbd_resources "
                                    r"\(scratch\) of its own"),
    "drbd-short-secret": (_drbd_short_secret, r"drbd_shared_secret must be 16 to 64 characters"),
    "drbd-config-drbdadm-refuses": (_drbd_config_drbdadm_refuses,
                                    r"drbdadm refuses the DRBD configuration made from the inventory on servvirt\d "
                                    r"\(rc \d+\): .*Nothing was installed"),
    "drbd-minor-clash": (_drbd_minor_clash, r"Each resource needs its own name .* its own minor \(1, 1\)"),
    "hypervisors-group-missing": (_hypervisors_group_missing,
                                  r"The target's ACL is built from group 'hypervisors', which is missing or empty"),
}


def _run_case(inv, workdir, case):
    edit, _ = CASES[case]
    inventory = _broken_inventory(workdir, inv, edit)
    return subprocess.run(
        ["ansible-playbook", "-i", str(inventory), "site.yml"],
        cwd=inv.PROJECT, env=inv.clean_env(), capture_output=True, text=True, timeout=600,
    )


@pytest.fixture(scope="module")
def refused(inv, tmp_path_factory):
    """Every case run once; the fingerprints of the nodes before and after."""
    before = _fingerprint(inv)
    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = {case: pool.submit(_run_case, inv, tmp_path_factory.mktemp(case), case) for case in sorted(CASES)}
        runs = {case: future.result() for case, future in runs.items()}
    return runs, before, _fingerprint(inv)


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_inventory_is_refused_and_changes_nothing(refused, case):
    runs, before, after = refused
    run = runs[case]
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert re.search(CASES[case][1], " ".join(output.split())), output
    assert not re.search(r"changed=[1-9]", output), output
    assert after == before
