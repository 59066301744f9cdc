"""The storage node reboots while the VMs run from image files on OCFS2
(the first source's design: in `iscsi_ocfs2` mode the VMs' disks live on
the storage node's LUN, which both hypervisors mount). What a user gets
when servdb is upgraded and rebooted: the target goes away, the
hypervisors' iSCSI sessions fail and queue the I/O, O2CB's disk heartbeat
hangs on every node at once (so no node is declared dead and none fences
itself), the guests' writes wait, and everything carries on once the
target is back: no hypervisor is fenced or reboots, the same QEMU
processes keep running, and the writes issued during the outage complete
and read back. The limit is open-iscsi's replacement_timeout from the
session's failure (a day by default since 2026-12-06; it was 120 s): a
longer outage fails the queued I/O and OCFS2 restarts the hypervisors
(roles/iscsi_initiator/README.md).

The guests are watched from this host (its address on the guest bridge,
havirt_vmlab_guest_host_address, tools/vmlab/up.yml), since servdb, the
usual prober, is the node that reboots: an HTTP request every 0.2 s to
each guest, and one disk write each issued 3 s after the reboot. passata
(DRBD, its disk on the hypervisors) is the control.

Last of the VM lab's files: it reboots the storage node (the cluster's DC
too, most of the time) and waits until the cluster is whole again."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
import uuid

from labkit.vms import file_vms, postmortem, running_on, vm_spec, vms, wait_for_http

# Emulation twice over (QEMU in the TCG VMs): a guest boots in one to two minutes.
GUEST_WAIT = 420
# servdb's shutdown and boot under TCG, and its services (the target's
# configuration restored, pacemaker back in the cluster).
BACK_WAIT = 600
# A guest's answer under TCG inside TCG with three guests running.
PROBE_TIMEOUT = 2.0
# No proxy between this host and the guest bridge, whatever the environment says.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(vm: str, path: str, timeout: float) -> str:
    with DIRECT.open(f"http://{vm_spec(vm)['address']}{path}", timeout=timeout) as answer:
        return answer.read().decode().strip()


def _boot_id(host):
    return host.check_output("cat /proc/sys/kernel/random/boot_id").strip()


def _qemu_pid(inv, vm):
    hosts = running_on(vm)
    assert len(hosts) == 1, f"{vm} runs on {hosts}"
    return hosts[0], inv.node(hosts[0]).check_output("cat /run/libvirt/qemu/%s.pid", vm).strip()


def _storage_back(inv, storage_name, boot_before):
    """Whether servdb runs a new boot, its pacemaker is back in the cluster
    and each hypervisor's iSCSI sessions are logged in again."""
    try:
        storage = inv.node(storage_name)
        if _boot_id(storage) == boot_before or storage.run("systemctl is-active pacemaker").stdout.strip() != "active":
            return False
        if f"Online: [ {' '.join(sorted(inv.group('cluster')))} ]" not in storage.run("crm_mon -1").stdout:
            return False
    except (AssertionError, RuntimeError, OSError):
        return False
    for hypervisor in inv.group("hypervisors"):
        sessions = inv.node(hypervisor).run("iscsiadm -m session -P 1").stdout
        states = re.findall(r"iSCSI Session State: (\S+)", sessions)
        if not states or any(state != "LOGGED_IN" for state in states):
            return False
    return True


class Prober:
    """HTTP to every guest from this host every 0.2 s, in threads: the
    times each one answered, and one write per guest whose completion
    (time, body) is kept."""

    def __init__(self, names):
        self.names = names
        self.answers = {vm: [] for vm in names}
        self.writes = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._watch, args=(vm,), daemon=True) for vm in names]
        for thread in self.threads:
            thread.start()

    def _watch(self, vm):
        while not self.stop.is_set():
            try:
                _get(vm, "/", PROBE_TIMEOUT)
                self.answers[vm].append(time.monotonic())
            except OSError:
                pass
            self.stop.wait(0.2)

    def write(self, vm, token, timeout):
        def run():
            try:
                body = _get(vm, f"/cgi-bin/disk?{token}", timeout)
            except OSError as failed:
                body = f"no answer: {failed}"
            self.writes[vm] = (time.monotonic(), body)
        threading.Thread(target=run, daemon=True).start()

    def longest_gap(self, vm, since):
        times = [since] + [t for t in self.answers[vm] if t >= since]
        return max(b - a for a, b in zip(times, times[1:])) if len(times) > 1 else float("inf")

    def close(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=PROBE_TIMEOUT + 1)


def test_a_storage_node_reboot_pauses_the_vms_on_ocfs2_and_they_carry_on(inv):
    storage_name = inv.group("storage")[0]
    storage = inv.node(storage_name)
    on_files = file_vms()
    assert on_files, "no VM on an OCFS2 file in the lab: nothing to test"
    names = [vm["name"] for vm in vms()]
    for vm in names:
        wait_for_http(vm, timeout=GUEST_WAIT)
        try:
            _get(vm, "/", 15)
        except OSError as failed:
            raise AssertionError(
                f"this host cannot reach {vm} on the guest network ({failed}): "
                "tools/vmlab/up.yml gives it havirt_vmlab_guest_host_address on the guest bridge") from None
    hypervisor_boots = {h: _boot_id(inv.node(h)) for h in inv.group("hypervisors")}
    qemu = {vm: _qemu_pid(inv, vm) for vm in names}
    storage_boot = _boot_id(storage)
    tag = uuid.uuid4().hex[:8]

    prober = Prober(names)
    try:
        start = time.monotonic()
        storage.check_output("systemd-run --on-active=1 --unit havirt-test-reboot systemctl reboot")
        time.sleep(4)
        for vm in names:
            prober.write(vm, f"during-{tag}", BACK_WAIT + 300)

        inv.node.cache_clear()
        deadline = time.monotonic() + BACK_WAIT
        while not _storage_back(inv, storage_name, storage_boot):
            assert time.monotonic() < deadline, f"{storage_name} or the iSCSI sessions not back after {BACK_WAIT} s"
            time.sleep(5)
        back = time.monotonic() - start
        print(f"\n{storage_name} rebooted: back in the cluster, every iSCSI session logged in, "
              f"{back:.0f} s after the reboot")

        deadline = time.monotonic() + 300
        while len(prober.writes) < len(names):
            assert time.monotonic() < deadline, f"writes still waiting 300 s after the storage came back: " \
                f"{prober.writes}" + "".join(postmortem(vm) for vm in names if vm not in prober.writes)
            time.sleep(2)
        time.sleep(2)  # a last answer after the writes, for the gaps
    finally:
        prober.close()
    for vm in names:
        done, body = prober.writes[vm]
        print(f"{vm} ({'OCFS2 file' if vm in on_files else 'DRBD, not on the storage node'}): the write issued "
              f"4 s after the reboot answered {body!r} at +{done - start:.1f} s; longest gap between HTTP "
              f"answers {prober.longest_gap(vm, start):.1f} s")

    for hypervisor, boot in hypervisor_boots.items():
        host = inv.node(hypervisor)
        assert _boot_id(host) == boot, f"{hypervisor} rebooted (self-fenced or fenced) during the storage outage"
        assert host.check_output("findmnt -n -o FSTYPE %s", "/cluster").strip() == "ocfs2", hypervisor
    for vm in names:
        assert _qemu_pid(inv, vm) == qemu[vm], f"{vm} was restarted (QEMU {qemu[vm]} before)"
        assert prober.writes[vm][1] == f"wrote during-{tag}", \
            f"{vm}'s write during the outage failed: {prober.writes[vm][1]!r}\n{postmortem(vm)}"
        assert _get(vm, "/cgi-bin/disk", 30) == f"read during-{tag}", f"{vm} does not read back its write"
    failures = storage.check_output("crm_mon --one-shot --output-as=xml --include=failures")
    assert "<failure " not in failures, failures
