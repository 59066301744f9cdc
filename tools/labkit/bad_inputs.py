"""Bad inventories, each refused with a message that names its problem.

Each case is a copy of the lab inventory (inventories/lab) with one fault,
the message (a regular expression, matched against the run's output with
its whitespace collapsed) and where it runs:

- OFFLINE: a check of the validation plays (playbooks/validate.yml) that
  reads only the inventory refuses it. tests/repo/test_bad_input_offline.py
  runs validate.yml on the copy, without the lab and without reaching any
  node, in `make unit`.
- NEEDS_NODE: only a command on a node finds the fault (`needs` says
  which). molecule/default/tests/test_bad_input.py runs site.yml on the
  copy against the live container lab and checks that no node changed.

A plain module (no Ansible, no testinfra): both runners load it by path.
Every edit takes the inventory's parsed hosts.yml (`data`), its hosts'
own variables (`hosts`, name: dict, edited in place) and `lab`, a function
giving a lab host's templated variables (Ansible's, read by the runner).
A value set on every host wins over the lab's group_vars."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import yaml

OFFLINE = "offline"
NEEDS_NODE = "needs-node"


class Case(NamedTuple):
    edit: Callable
    message: str
    where: str = OFFLINE
    needs: str = ""  # NEEDS_NODE: the command on a node that finds the fault


def cluster_hosts(data: dict) -> dict:
    """name: variables of every host under cluster (storage, hypervisors)."""
    hosts = {}
    for group in data["all"]["children"]["cluster"]["children"].values():
        hosts.update(group.get("hosts") or {})
    return hosts


def broken_inventory(source: Path, target: Path, case: Case, lab: Callable, pinned: Callable) -> Path:
    """A copy of the inventory `source` at `target` with the case's fault.
    `pinned(name)` gives variables set on host `name` before the edit (what
    the copy needs to run where it is: keys, paths, connection)."""
    shutil.copytree(source, target, symlinks=False)
    hosts_file = target / "hosts.yml"
    data = yaml.safe_load(hosts_file.read_text())
    hosts = cluster_hosts(data)
    for name, hvars in hosts.items():
        hvars.update(copy.deepcopy(pinned(name)))
    case.edit(data, hosts, lab)
    hosts_file.write_text(yaml.safe_dump(data, sort_keys=False))
    return target


def plain(value):
    """Ansible's templated values as plain types (they are not YAML-dumpable)."""
    return json.loads(json.dumps(value))


def _everywhere(hosts, **values):
    for hvars in hosts.values():
        hvars.update(values)


def _dup_address(data, hosts, lab):
    hosts["servvirt2"]["havirt_cluster_address"] = hosts["servvirt1"]["havirt_cluster_address"]


def _dup_name(data, hosts, lab):
    hosts["servdb"]["havirt_host_aliases"] = ["servvirt1"]


def _extra_entry_clash(data, hosts, lab):
    _everywhere(hosts, hosts_extra_entries=[
        {"address": hosts["servdb"]["havirt_cluster_address"], "names": ["backup"]}])


def _no_time_source(data, hosts, lab):
    _everywhere(hosts, ntp_local_stratum=0)


def _missing_backing_device(data, hosts, lab):
    """The lab's LUNs, the first on a device that does not exist (no size:
    not a file the role may create)."""
    luns = plain(lab("servdb")["iscsi_target_luns"])
    luns[0] = {"path": "/dev/vg-missing/cluster"}
    _everywhere(hosts, iscsi_target_luns=luns)


def _short_chap_secret(data, hosts, lab):
    _everywhere(hosts, havirt_iscsi_chap_password="short")


def _chap_secret_with_space(data, hosts, lab):
    _everywhere(hosts, havirt_iscsi_chap_password="has a space in it")


def _initiator_name_clash(data, hosts, lab):
    hosts["servvirt2"]["iscsi_initiator_name"] = "iqn.2026-11.org.havirt.lab:servvirt1"


def _hypervisors_group_missing(data, hosts, lab):
    """A typo in the group name: the hypervisors are in no 'hypervisors' group."""
    cluster = data["all"]["children"]["cluster"]["children"]
    cluster["hypervisor"] = cluster.pop("hypervisors")


def _ocfs2_cluster_name(data, hosts, lab):
    _everywhere(hosts, ocfs2_cluster_name="ha-virt")


def _ocfs2_node_number_clash(data, hosts, lab):
    hosts["servvirt2"]["ocfs2_node_number"] = 0


def _vms_edited(hosts, lab, change):
    """The lab's havirt_vms with passata changed (inventory-wide)."""
    lab_vms = plain(lab("servvirt1")["havirt_vms"])
    change(lab_vms[0])
    _everywhere(hosts, havirt_vms=lab_vms)


def _vm_on_storage_node(data, hosts, lab):
    _vms_edited(hosts, lab, lambda vm: vm.update(preferred="servdb"))


def _vm_disk_on_ocfs2_lun(data, hosts, lab):
    _vms_edited(hosts, lab, lambda vm: vm.update(disk={"lun": 1}))


def _vm_state_unknown(data, hosts, lab):
    _vms_edited(hosts, lab, lambda vm: vm.update(state="deleted"))


def _vm_purge_disk_present(data, hosts, lab):
    """purge_disk on a VM that is not marked absent."""
    _vms_edited(hosts, lab, lambda vm: vm.update(purge_disk=True))


def _vm_cloud_init_gateway_elsewhere(data, hosts, lab):
    """passata's seed would route through a gateway off its network."""
    _vms_edited(hosts, lab, lambda vm: vm.update(cloud_init={"gateway": "10.99.0.1"}))


def _two_vms_one_disk(data, hosts, lab):
    _vms_edited(hosts, lab, lambda vm: vm.update(disk={"lun": 3}))


def _lab_fence_device(lab, **changes):
    device = plain(lab("servdb")["pacemaker_fence_devices"][0])
    device.update(changes)
    return device


def _two_node_cluster(data, hosts, lab):
    _everywhere(hosts, pacemaker_cluster_group="hypervisors")


def _no_fencing(data, hosts, lab):
    _everywhere(hosts, pacemaker_fence_devices=[])


def _alert_mail_not_an_address(data, hosts, lab):
    _everywhere(hosts, pacemaker_alert_mail_to=["ops@havirt.lab", "Ops Team"])


def _backup_host_is_a_hypervisor(data, hosts, lab):
    _everywhere(hosts, backup_host="servvirt2")


def _backup_schedule_two_lines(data, hosts, lab):
    _everywhere(hosts, backup_schedule="daily\nExecStartPre=/bin/true")


def _backup_schedule_not_a_calendar(data, hosts, lab):
    _everywhere(hosts, backup_schedule="every tuesday")


def _node_not_fenceable(data, hosts, lab):
    _everywhere(hosts, pacemaker_fence_devices=[_lab_fence_device(lab, targets=["servvirt1", "servvirt2"])])


def _fence_device_unreachable(data, hosts, lab):
    device = _lab_fence_device(lab)
    device["options"]["unix_socket"] = "/run/havirt-lab-fence/absent.sock"
    _everywhere(hosts, pacemaker_fence_devices=[device])


def _unknown_storage_mode(data, hosts, lab):
    _everywhere(hosts, havirt_storage_modes=["iscsi_ocfs2", "ceph"])


def _vm_on_unknown_drbd_resource(data, hosts, lab):
    _vms_edited(hosts, lab, lambda vm: vm.update(disk={"drbd": "nope"}))


def _drbd_short_secret(data, hosts, lab):
    _everywhere(hosts, drbd_shared_secret="short")


def _drbd_config_drbdadm_refuses(data, hosts, lab):
    """Passes the role's own checks; drbdadm refuses it (not a rate)."""
    _everywhere(hosts, drbd_resync_rate_max="fast")


def _drbd_minor_clash(data, hosts, lab):
    _everywhere(hosts, havirt_drbd_resources=[{"name": "a", "minor": 1, "port": 7789, "disk": "/dev/vdb"},
                                              {"name": "b", "minor": 1, "port": 7790, "disk": "/dev/vdc"}])


def _drbd_fence_peer_no_wait(data, hosts, lab):
    _everywhere(hosts, drbd_fence_peer_timeout_s=0)


def _target_iqn_upper_case(data, hosts, lab):
    _everywhere(hosts, havirt_iscsi_target_iqn="iqn.2026-11.Org.Havirt:cluster")


def _lun_path_twice(data, hosts, lab):
    luns = plain(lab("servdb")["iscsi_target_luns"])
    luns[2] = dict(luns[1])
    _everywhere(hosts, iscsi_target_luns=luns)


def _fence_target_not_a_node(data, hosts, lab):
    _everywhere(hosts, pacemaker_fence_devices=[_lab_fence_device(lab, targets=["servdb", "servvirt1", "servvirt2",
                                                                                 "servweb"])])


def _mixed_hypervisor_types(data, hosts, lab):
    hosts["servvirt2"]["havirt_hypervisor_type"] = "xen"


def _ssh_migration_postcopy(data, hosts, lab):
    _everywhere(hosts, havirt_migration_transport="ssh", xen_migration_postcopy=True)


def _drbd_fence_peer_outwaits_promote(data, hosts, lab):
    _everywhere(hosts, drbd_fence_peer_timeout_s=120)


def _bad_type(data, hosts, lab):
    _everywhere(hosts, ntp_local_stratum="ten")


CASES = {
    "duplicate-address": Case(_dup_address, r"duplicate address 10\.210\.1\.11: used by servvirt1 and servvirt2"),
    "duplicate-name": Case(_dup_name, r"duplicate name servvirt1: given to (servdb \(10\.210\.1\.10\) and servvirt1 "
                                      r"\(10\.210\.1\.11\)|servvirt1 \(10\.210\.1\.11\) and servdb \(10\.210\.1\.10\))"),
    "extra-entry-clash": Case(_extra_entry_clash,
                              r"duplicate address 10\.210\.1\.10: used by servdb and extra entry backup"),
    "no-time-source": Case(_no_time_source, r"ntp_upstream_servers is empty and ntp_local_stratum is 0"),
    "bad-type": Case(_bad_type, r"ntp_local_stratum.*(int|integer)"),
    "missing-backing-device": Case(
        _missing_backing_device, r"/dev/vg-missing/cluster on servdb: does not exist\. Create the block device",
        NEEDS_NODE, "stat of each LUN's backing device on the storage node (iscsi_target tasks/validate.yml)"),
    "ocfs2-cluster-name": Case(_ocfs2_cluster_name,
                               r"ocfs2_cluster_name 'ha-virt' is not valid for o2cb: 1 to 16 characters, letters and digits only"),
    "ocfs2-node-number-clash": Case(_ocfs2_node_number_clash,
                                    r"nodes\[1\] \(servvirt2\): number 0 is already used by nodes\[0\] \(servvirt1\)"),
    "short-chap-secret": Case(_short_chap_secret, r"CHAP settings the target would reject"),
    "chap-secret-with-space": Case(_chap_secret_with_space, r"CHAP settings the target would reject"),
    "initiator-name-clash": Case(
        _initiator_name_clash,
        r"servvirt2: iscsi_initiator_name iqn\.2026-11\.org\.havirt\.lab:servvirt1 is already servvirt1's"),
    "vm-on-storage-node": Case(_vm_on_storage_node,
                               r"passata: preferred hypervisor 'servdb' is not in group 'hypervisors' "
                               r"\(servvirt1, servvirt2\): a VM never runs on the storage node"),
    "vm-disk-on-ocfs2-lun": Case(_vm_disk_on_ocfs2_lun,
                                 r"passata: LUN 1 holds the OCFS2 store \(havirt_ocfs2_lun\): a disk opened by a guest"),
    "vm-state-unknown": Case(_vm_state_unknown, r"state must be one of: present, absent, got: deleted"),
    "vm-purge-disk-present": Case(
        _vm_purge_disk_present,
        r"passata: purge_disk deletes the disk of a VM marked state: absent; passata is not: mark it absent too"),
    "vm-cloud-init-gateway-elsewhere": Case(
        _vm_cloud_init_gateway_elsewhere,
        r"passata: the gateway 10\.99\.0\.1 is not on the guest's network 10\.210\.2\.0/24"),
    "two-vms-one-disk": Case(_two_vms_one_disk,
                             r"passata and speedauth would share LUN 3: a disk opened by two guests is destroyed"),
    "alert-mail-not-an-address": Case(
        _alert_mail_not_an_address,
        r"pacemaker_alert_mail_to: 'Ops Team' is not a mail address \(user@domain, nothing else\)"),
    "backup-host-is-a-hypervisor": Case(
        _backup_host_is_a_hypervisor,
        r"backup_host servvirt2 is a hypervisor: a backup must outlive the server it came from"),
    "backup-schedule-two-lines": Case(
        _backup_schedule_two_lines,
        r"backup_schedule 'daily\\+nExecStartPre=/bin/true' is not one line of text"),
    "backup-schedule-not-a-calendar": Case(
        _backup_schedule_not_a_calendar,
        r"backup_schedule 'every tuesday' is not a calendar event systemd understands \(Failed to parse",
        NEEDS_NODE, "systemd-analyze calendar on the backup host (backup tasks/validate.yml)"),
    "two-node-cluster": Case(_two_node_cluster,
                             r"pacemaker needs three or more nodes in group 'hypervisors'; it has 2 "
                             r"\(servvirt1, servvirt2\)"),
    "no-fencing": Case(_no_fencing, r"No fence device \(pacemaker_fence_devices is empty\)\. Without fencing"),
    "node-not-fenceable": Case(_node_not_fenceable,
                               r"No fence device targets servdb: the cluster could never recover"),
    "fence-device-unreachable": Case(
        _fence_device_unreachable,
        r"Fence device fence-lab \(fence_podman\) cannot reach servvirt\d from \w+: rc 1, "
        r"fence_podman: cannot reach the libpod API at /run/havirt-lab-fence/absent\.sock",
        NEEDS_NODE, "each fence device run against its targets from the nodes (pacemaker tasks/fence_check.yml)"),
    "unknown-storage-mode": Case(_unknown_storage_mode,
                                 r"havirt_storage_modes must list iscsi_ocfs2 .* got \['iscsi_ocfs2', 'ceph'\]"),
    "vm-on-unknown-drbd-resource": Case(
        _vm_on_unknown_drbd_resource,
        r"passata: DRBD resource 'nope' is not in havirt_drbd_resources \(scratch\)"),
    "drbd-short-secret": Case(_drbd_short_secret, r"drbd_shared_secret must be 16 to 64 characters"),
    "drbd-fence-peer-no-wait": Case(_drbd_fence_peer_no_wait, r"drbd_fence_peer_timeout_s is 0: give a number of seconds"),
    "drbd-fence-peer-outwaits-promote": Case(
        _drbd_fence_peer_outwaits_promote,
        r"drbd_fence_peer_timeout_s 120 is not below the DRBD clone's promote timeout \(pacemaker_drbd_timeouts\.promote, "
        r"90s\): pacemaker would give up the promotion"),
    "drbd-config-drbdadm-refuses": Case(
        _drbd_config_drbdadm_refuses,
        r"drbdadm refuses the DRBD configuration made from the inventory on servvirt\d \(rc \d+\): "
        r".*Nothing was installed",
        NEEDS_NODE, "drbdadm on the hypervisors reads the configuration (drbd tasks/check_config.yml)"),
    "drbd-minor-clash": Case(_drbd_minor_clash,
                             r"DRBD resource b: minor 1 is already DRBD resource a's: each resource needs its own"),
    "target-iqn-upper-case": Case(
        _target_iqn_upper_case,
        r"iscsi_target_iqn \(havirt_iscsi_target_iqn\) 'iqn\.2026-11\.Org\.Havirt:cluster' is not an IQN \(iqn\.YYYY-MM\.reversed\.domain:name, "
        r"lower case\)"),
    "lun-path-twice": Case(_lun_path_twice,
                           r"LUN 3: \S+ is already LUN 2: two LUNs on one device are one disk written by two owners"),
    "fence-target-not-a-node": Case(
        _fence_target_not_a_node,
        r"Fence device fence-lab: targets servweb are not nodes of group 'cluster' \(servdb, servvirt1, servvirt2\)"),
    "mixed-hypervisor-types": Case(
        _mixed_hypervisor_types,
        r"The hypervisors need one hypervisor type for all \(a VM cannot migrate between KVM and Xen\): "
        r"kvm on servvirt1, xen on servvirt2"),
    "ssh-migration-postcopy": Case(
        _ssh_migration_postcopy,
        r"With the ssh transport, xen_migration_postcopy must be false: libvirt refuses post-copy"),
    "hypervisors-group-missing": Case(
        _hypervisors_group_missing,
        r"The target's ACL is built from group 'hypervisors', which is missing or empty"),
}


def names(where: str) -> list[str]:
    """The cases that run `where` (OFFLINE or NEEDS_NODE), sorted."""
    return sorted(name for name, case in CASES.items() if case.where == where)
