# Written by the havirt.cluster backup role (backup_schedule); run by
# havirt-backup.timer on each hypervisor. Backs up the cluster's VMs that
# run on this hypervisor now, as backup.yml does (the same code: the
# collection's module_utils below /usr/local/lib/havirt/python), and sends
# each backup to the backup host through this hypervisor's key: disks
# first, the manifest last. The backup host's own timer keeps the newest
# backup_keep. Settings: /etc/havirt/backup.json (or the first argument).
# Exit status 1 when a VM could not be backed up (the others were); the
# cluster's alerts (the pacemaker role's agent, --notify) then say which
# and why, by mail or webhook, as for the cluster's own events.
"""havirt-backup: the scheduled backup of the VMs running on this hypervisor."""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, "/usr/local/lib/havirt/python")

import libvirt  # noqa: E402  (python3-libvirt)

from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup as vb  # noqa: E402
from ansible_collections.havirt.cluster.plugins.module_utils.qemu_img import human  # noqa: E402
from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup_job as job  # noqa: E402


def run(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def warn(text):
    print("warning: %s" % text, file=sys.stderr)


def send(settings, name, backup_id):
    """The backup's disks, then its manifest, to the backup host (the same
    commands as backup.yml's); the local copy removed once sent."""
    local = os.path.join(settings["scratch_dir"], name, backup_id)
    for argv in vb.send_commands(settings["scratch_dir"], name, backup_id, settings["rsh"], settings["destination"]):
        rc, out, err = run(argv)
        if rc != 0:
            raise vb.BackupError("sending the backup to %s failed (rsync %d): %s; it stays in %s"
                                 % (settings["destination"], rc, err.strip(), local))
    shutil.rmtree(local, ignore_errors=True)


def next_parent(settings, name):
    """(parent, why) for this VM's backup: its newest complete backup on
    the backup host when it can be built on (rsync lists the VM's
    directory there), else (None, why not)."""
    if not settings.get("incremental"):
        return None, "incremental backups are off"
    rc, out, err = run(["rsync", "--list-only", "--recursive", "--rsh=" + settings["rsh"],
                        settings["destination"] + name + "/"])
    if rc != 0:
        # A VM never backed up has no directory there yet.
        return None, "no earlier backup read on the backup host (rsync %d: %s)" % (rc, err.strip()[:200])
    try:
        return vb.next_parent(vb.parents_from_listing(out), int(settings.get("full_every", 1)))
    except vb.BackupError as exc:
        return None, "the backups on the backup host cannot be built on: %s" % exc


def alert(settings, subject, detail):
    """The cluster's alert for a run that failed (nothing when the
    pacemaker role's agent is not there)."""
    agent = settings.get("alert_agent", "")
    if not agent or not os.path.exists(agent):
        warn("no alert agent (%s): %s not sent" % (agent or "none set", subject))
        return
    rc, out, err = run(["/usr/bin/python3", agent, "--notify", "backup", "CRITICAL", subject, detail])
    if rc != 0:
        warn("the alert %r was not sent: %s" % (subject, err.strip()))


def main():
    with open(sys.argv[1] if len(sys.argv) > 1 else "/etc/havirt/backup.json") as handle:
        settings = json.load(handle)
    try:
        return backup(settings)
    except Exception as exc:  # noqa: BLE001 (any failure is reported, then raised)
        alert(settings, "scheduled backup FAILED", "the run stopped: %r" % (exc,))
        raise


def backup(settings):
    libvirt.registerErrorHandler(lambda *args: None, None)
    conn = libvirt.open(settings.get("uri", "qemu:///system"))
    backup_id = job.backup_id()
    options = {"freeze": settings["freeze"], "timeout": settings["timeout"], "qemu_img": shutil.which("qemu-img"),
               "incremental": settings.get("incremental", False)}
    running = [dom.name() for dom in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)]
    names = vb.scheduled(settings["vms"], running)
    if not names:
        print("no VM of the cluster runs here: nothing to back up")
    failed = []
    problems = []
    for name in names:
        try:
            dom = conn.lookupByName(name)
            options["parent"], options["parent_detail"] = next_parent(settings, name)
            data, seconds = job.take_backup(libvirt, dom, name, os.path.join(settings["scratch_dir"], name, backup_id),
                                            vb.disks_of(dom.XMLDesc(0)), options, run, warn)
            send(settings, name, backup_id)
        except (vb.BackupError, libvirt.libvirtError, OSError) as exc:
            failed.append(name)
            problems.append("%s: NOT backed up: %s" % (name, exc))
            print(problems[-1], file=sys.stderr)
            continue
        print("%s: backup %s sent to %s (%s; %s: %s; %d disk(s), %s stored; %.1f s)"
              % (name, backup_id, settings["destination"], data["consistency"], data["kind"], data["kind_detail"],
                 len(data["disks"]), human(sum(disk["bytes"] for disk in data["disks"])), seconds))
    conn.close()
    if failed:
        print("not backed up: %s" % ", ".join(failed), file=sys.stderr)
        alert(settings, "scheduled backup of %s FAILED" % ", ".join(failed), "\n".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
