"""The order in which each lab's verify step runs its test files.

pytest runs files in the order it is given them, and Molecule gives them
sorted by name: the order was an accident of the alphabet. Here it is
written down. Each scenario's conftest.py sorts the collected tests by
these lists (tests within a file keep their order), and a test file that
is in no list stops the run at collection: a new file must be placed
deliberately, above all one that changes the cluster.

No Ansible or testinfra here: tests/repo/test_lab_order.py checks the
lists against the directories offline."""

from __future__ import annotations

# The container lab (molecule/default/tests).
CONTAINER_LAB = (
    # 1. Read-only: they look at the converged cluster and change nothing
    #    of it (what a test installs or writes for itself, a probe tool or
    #    a scratch file, is not the cluster's). First, while the cluster is
    #    exactly as converge and idempotence left it, and while every node
    #    still has the network it was created with (apt works).
    "test_drbd_config.py",
    "test_iscsi_initiator.py",
    "test_iscsi_target.py",
    "test_listening.py",  # ss on every node: sockets only where the inventory names
    "test_ntp.py",
    "test_ocfs2.py",
    "test_secrets.py",  # reads the scenario's logs
    "test_vms.py",  # a second start of each VM is refused: nothing starts
    "test_xen_migration.py",
    # 2. They change the cluster, in this order (the order they passed in
    #    when they ran by name; only the storage node's restart moved, to
    #    the end). Each one leaves the cluster converged for the next.
    # site.yml with the broken inventories only a node can find (the
    # others run offline, tests/repo/test_bad_input_offline.py): each must
    # be refused, and the nodes' files and the CIB are the same before and
    # after the batch.
    "test_bad_input.py",
    # Kills the busiest hypervisor 5 times, cuts a cluster link, destroys a
    # VM, restarts servdb; its module fixture waits until the cluster is
    # settled and puts every VM back on its preferred hypervisor.
    "test_failover.py",
    # A Debian loopback line added, site.yml on one hypervisor: exactly one
    # change there.
    "test_hosts.py",
    # One hypervisor's copy of a VM's cloud-init seed deleted, site.yml
    # --tags vms: the other's copied back, byte for byte.
    "test_seed.py",
    # site.yml from the built tarball: no change on any node.
    "test_installed_collection.py",
    # Needs guests running and answering: moves passata, kills a
    # destination's libvirtd mid-migration, evacuates and restores a
    # hypervisor (each VM back on its preferred one).
    "test_migration.py",
    # maintenance.yml: the second hypervisor emptied live and put in
    # standby, then taken out (standby lifted, its VMs back on it).
    "test_maintenance.py",
    # site.yml with VMs kept apart, priorities and a small capacity per
    # hypervisor (extra variables), a crash that leaves a VM without room,
    # then site.yml without them (taken back) and every VM home.
    "test_placement.py",
    # A VM marked state: absent (extra variables): site.yml removes it
    # from the cluster and the hypervisors, keeps its disk, changes nothing
    # the second time; without the mark it comes back with its data.
    "test_removal.py",
    # backup.yml three times on passata (the newest two stay on servdb),
    # restore.yml of two of them (passata stopped and started through the
    # cluster), refusals that stop nothing.
    "test_backup.py",
    # vm_backup and vm_restore ad hoc on a qcow2 guest of its own (outside
    # the cluster, destroyed at the end): full, incremental, chains.
    "test_backup_incremental.py",
    # The role re-run over a drifted value, a foreign resource and a VM
    # stopped by hand (started again at the end).
    "test_pacemaker.py",
    # Installs the migration SSH keys (left in place; tls stays the lab's
    # transport), moves speedauth over SSH and back.
    "test_ssh_transport.py",
    # A failed action on a dummy resource, removed afterwards.
    "test_status.py",
    # docs/runbooks followed as written: a VM whose starts failed on both
    # hypervisors (its definition broken by hand) brought back by the
    # runbook's commands, on its preferred hypervisor; then both
    # hypervisors killed at once (no quorum), one powered on by the test,
    # the other fenced and powered on by the cluster, every VM home.
    "test_runbooks.py",
    # Last: restarts tgt, then the whole storage node (the iSCSI target
    # and a voting node) with no hands to bring anything back.
    "test_restart.py",
)

# The container lab on the older supported release (molecule/bookworm: the
# same tests, HAVIRT_LAB_VERIFY=core): every read-only file, then a live
# migration with its failure cases, backup and restore, and the status
# report. Left to the full run on the first-class release: the hard
# crashes, the re-runs over broken
# inventories and drifted resources, the SSH transport, the storage node's
# restart (the same playbooks; what differs between releases is the
# packages and the daemons those files above already exercise).
CONTAINER_LAB_CORE = CONTAINER_LAB[:CONTAINER_LAB.index("test_bad_input.py")] + (
    "test_migration.py",
    # libvirt's backup job and qemu-img differ between the releases.
    "test_backup.py",
    "test_status.py",
)

# The container lab's slowest files that CI can do without: left out of
# `make molecule` (the default scenario runs with HAVIRT_LAB_VERIFY=ci)
# and run by `make molecule-extended` (molecule/extended, in `make
# test-extended`) on a lab of their own, for CI's budget: on 2026-12-07
# they took about 880 s of the default scenario's 2582 s verify, and CI's
# run of the tree before reached 4754 s of the 4500 asked. What they prove
# is not lost, it is run before an issue it covers is closed: site.yml
# from the built tarball, a VM's removal and return, the runbooks of the
# container lab.
CONTAINER_LAB_EXTENDED = (
    "test_installed_collection.py",  # 254 s: a whole site.yml from the built collection
    "test_removal.py",  # 324 s: three site.yml runs
    "test_runbooks.py",  # 300 s: a VM failed everywhere, VMs unwatched, quorum lost
)

# The mixed-release container lab (molecule/mixed/tests): one file, its
# tests in order (the cluster read, a move each way, then a crash).
MIXED_LAB = (
    "test_rolling_upgrade.py",
)

# The day-two container lab (molecule/day2/tests): the rolling upgrade
# of the hypervisors first (the cluster whole), then one that stops at a
# node kept down on purpose (repaired at the end), then the storage
# node's turn.
DAY2_LAB = (
    "test_upgrade.py",
    "test_runbooks_day2.py",
    # A real Debian guest (extra variables): site.yml makes it from its
    # image on LUN 5, cloud-init configures it, servdb logs in over SSH;
    # moved live under an open session; marked absent at the end (its
    # disk kept), then purge_disk empties its LUN and deletes its seeds.
    # Here, not in CI's lab: about 6.5 minutes of its budget.
    "test_debian_guest.py",
    # replace.yml: the first hypervisor's container thrown away and made
    # anew from the image, rebuilt into the cluster, its VMs back live.
    "test_replace_node.py",
)

# The VM lab (molecule/vmlab/tests): the read-only files first, then the
# others in the order they passed in by name.
VM_LAB = (
    # Xen only (molecule/xenlab, HAVIRT_LAB_VERIFY=xen): dom0, libxl and
    # the VMs as Xen domains; deselected on KVM.
    "test_xen.py",
    # Reads the scenario's logs (its playbooks' runs, not the tests').
    "test_secrets.py",
    # The iscsiadm module given the portal by name: no change expected.
    "test_iscsiadm_portal.py",
    # Builds on itself: its migration leaves the VM on the last
    # hypervisor, whose hard crash (fenced, resynced) is then measured.
    "test_drbd.py",
    # docs/runbooks/drbd-split-brain.md: a split brain made on passata's
    # disk under the running VM (left on the first hypervisor by the
    # crash above) and resolved by the runbook's commands; the VM moved
    # live to the second and back, so it is where test_ocfs2_vms.py
    # expects it.
    "test_runbooks_vmlab.py",
    # VMs on image files on OCFS2: their files, a move of each, then a hard
    # crash of the hypervisor that passata (left on the first by
    # test_drbd.py's crash) does not run on.
    "test_ocfs2_vms.py",
    # The storage roles again: no change, even after that crash and resync.
    "test_idempotence.py",
    # Sessions, /cluster, time and names on every node (after the crash:
    # the fenced node brought them back), then the target's restart.
    "test_vmlab.py",
    # The second hypervisor emptied by maintenance.yml, its session and
    # /cluster taken away, the portal dropped: havirt-iscsi-login.service
    # retries until the portal answers and /cluster is back; VMs home.
    "test_iscsi_login_retry.py",
    # The storage node (and DC) rebooted under the VMs on OCFS2: last, it
    # takes the whole cluster through a restart of its target.
    "test_storage_restart.py",
    # docs/runbooks/storage-node-lost.md: the storage node's power cut
    # under the VMs, held 200 s (past where 120 s restarted the
    # hypervisors), its runbook's blocks, the power back: it leaves the
    # cluster whole, the fencing history cleared.
    "test_storage_lost.py",
    # A power cut of all three nodes, the storage node back 240 s after the
    # hypervisors: every VM back by the cluster alone (the login unit,
    # failure-timeout), each with its token; it leaves every VM running.
    "test_site_power_cut.py",
    # backup.yml of passata (DRBD) and masterauth (qcow2 on OCFS2) while
    # they run; restore.yml of each, passata's from the second hypervisor
    # where its resource is Primary; a restore refused after the stop
    # (speedauth's disk too small) starts the VM again; masterauth backed
    # up incrementally across a live migration, restored from its chain.
    # It leaves every VM home.
    "test_backup_vmlab.py",
    # upgrade.yml with a reboot of each hypervisor (real kernels: the
    # iSCSI session, /cluster and DRBD come back with each) while servdb
    # probes every VM: no VM restarts; it leaves every VM home.
    "test_upgrade_vmlab.py",
    # replace.yml: the first hypervisor emptied, powered off, its disks
    # thrown away and rebuilt into the cluster (a full DRBD resync); it
    # leaves the cluster whole.
    "test_replace.py",
    # passata's DRBD backing devices and masterauth's image file grown under
    # the running guests: last, since it leaves them bigger than a new lab's
    # (a hypervisor rebuilt at the lab's size could not resync from them).
    "test_disk_grow.py",
)

# The Xen lab (molecule/xenlab: the VM lab's nodes with Xen hypervisors,
# HAVIRT_LAB_VERIFY=xen): Xen itself, then the first source's system, VMs
# as image files on OCFS2 moved live and failed over. The other files are
# the KVM lab's (DRBD, the storage node's restart: the same roles, proven
# there).
XEN_LAB = ("test_xen.py", "test_ocfs2_vms.py")
# What only the Xen lab runs.
XEN_ONLY = ("test_xen.py",)


def subset(items: list, file_of, keep: tuple[str, ...]) -> tuple[list, list]:
    """(kept, dropped): the items whose file (`file_of(item)`) is in `keep`,
    and the others, each list in its original order."""
    kept = [item for item in items if file_of(item) in keep]
    return kept, [item for item in items if file_of(item) not in keep]


class UnorderedTestFile(Exception):
    """A collected test file that is in no order list."""


def sort_by_file(items: list, file_of, order: tuple[str, ...], where: str) -> list:
    """`items` sorted by the position of their file (`file_of(item)`, a
    file name) in `order`; items of one file keep their order. Raises
    UnorderedTestFile naming every file that is not in `order`."""
    rank = {name: position for position, name in enumerate(order)}
    unknown = sorted({file_of(item) for item in items} - set(rank))
    if unknown:
        raise UnorderedTestFile(
            f"test files in no order: {', '.join(unknown)}. Add each to {where}: with the read-only "
            "files if it changes nothing of the cluster, otherwise among those that change it, after "
            "what leaves the cluster as it needs it and before what it would disturb.")
    return sorted(items, key=lambda item: rank[file_of(item)])


def reorder(items: list, mine, file_of, order: tuple[str, ...], where: str) -> None:
    """Sort, in place, the items for which `mine(item)` is true by
    sort_by_file; the others keep their places."""
    ordered = iter(sort_by_file([item for item in items if mine(item)], file_of, order, where))
    items[:] = [next(ordered) if mine(item) else item for item in items]


def reorder_directory(items: list, directory, order: tuple[str, ...], where: str) -> None:
    """A scenario conftest's pytest_collection_modifyitems: the tests of the
    files in `directory` sorted by `order` (reorder); a file in no list
    stops the run with pytest's usage error naming it."""
    import pytest

    try:
        reorder(items, lambda item: item.path.parent == directory, lambda item: item.path.name, order, where)
    except UnorderedTestFile as exc:
        raise pytest.UsageError(str(exc)) from None
