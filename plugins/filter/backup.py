# Copyright: havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What backup.yml and restore.yml decide: which VMs a run backs up, what
the hypervisors did (one line per backup, the VMs not backed up), which
backups the retention deletes, and which backup a restore means. Documented
in the .yml files beside this file; the rules are unit-tested."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.havirt.cluster.plugins.module_utils.vm_backup import BackupError, check_id, expired


SYSTEM_DIRS = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/opt", "/proc", "/root", "/run", "/sbin",
               "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib")


def backup_problems(host, all_hosts, hypervisors, directory, keep):
    """What is wrong with where the backups go (the backup role's
    settings), as sentences; empty when backups are not configured
    (``host`` empty) or when nothing is."""
    if not host:
        return []
    problems = []
    if host not in (all_hosts or []):
        problems.append("backup_host %r is not a host of the inventory" % (host,))
    elif host in (hypervisors or []):
        problems.append("backup_host %s is a hypervisor: a backup must outlive the server it came from; name "
                        "another host (the storage node, or one outside the cluster)" % host)
    directory = str(directory or "")
    if not directory.startswith("/") or directory.rstrip("/") in SYSTEM_DIRS or "/../" in directory + "/":
        problems.append("backup_dir %r is not a directory of its own: give an absolute path such as "
                        "/srv/havirt-backups (its contents are deleted by the retention)" % (directory,))
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
        problems.append("backup_keep is %r: keep at least 1 backup of each VM" % (keep,))
    return problems


def _present_names(vms):
    return [vm["name"] for vm in vms or [] if isinstance(vm, Mapping) and vm.get("name")
            and vm.get("state", "present") != "absent"]


def backup_plan(vms, requested=""):
    """``vms``: havirt_vms; ``requested``: ``-e vm=A,B`` (a list or a comma
    list; empty: every VM). Returns {'names': the VMs, 'wanted': those to
    back up, 'unknown': those asked that are not VMs of the inventory}."""
    names = _present_names(vms)
    if isinstance(requested, str):
        requested = [part.strip() for part in requested.split(",")]
    asked = [str(name) for name in requested or [] if str(name)]
    return {"names": names, "wanted": asked or names, "unknown": [n for n in asked if n not in names]}


def _human(size):
    for unit, factor in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if size >= factor:
            return "%.1f %s" % (size / factor, unit)
    return "%d B" % size


def backup_report(per_host, wanted, host, directory):
    """``per_host``: each hypervisor's registered loop of
    havirt.cluster.vm_backup (or an undefined value, for a host that took
    none). Returns {'lines': one sentence per backup, 'missing': the wanted
    VMs no hypervisor backed up, 'backups': {vm: id}}."""
    lines, done = [], {}
    for registered in per_host or []:
        if not isinstance(registered, Mapping):
            continue
        for result in registered.get("results") or []:
            if not isinstance(result, Mapping) or result.get("skipped") or "manifest" not in result:
                continue
            man = result["manifest"]
            done[man["vm"]] = man["id"]
            stored = sum(d.get("bytes", 0) for d in man["disks"])
            size = sum(d.get("virtual_size", 0) for d in man["disks"])
            lines.append("%s: backup %s on %s:%s/%s/%s, %s of disks in %s (%s, %s)" % (
                man["vm"], man["id"], host, directory, man["vm"], man["id"], _human(size), _human(stored),
                man["consistency"], man["consistency_detail"]))
    return {"lines": lines, "missing": [name for name in wanted if name not in done], "backups": done}


def backup_expired(ids, keep):
    """The backup ids (directory names) to delete so that the ``keep``
    newest stay."""
    try:
        return expired([str(i) for i in ids or []], int(keep))
    except (BackupError, ValueError, TypeError) as exc:
        raise AnsibleFilterError("backup_expired: %s" % exc)


def backup_stored(found, keep):
    """``found``: the registered loop of ansible.builtin.find for each VM's
    manifest.json files (item: the VM). Returns, per VM, {'item': the VM,
    'ids': its complete backups, oldest first, 'expired': those to delete
    so that the ``keep`` newest stay}."""
    out = []
    for result in (found or {}).get("results", []) if isinstance(found, Mapping) else found or []:
        ids = sorted(f["path"].rstrip("/").split("/")[-2] for f in result.get("files", []))
        out.append({"item": result.get("item"), "ids": ids, "expired": backup_expired(ids, keep)})
    return out


def backup_choice(ids, requested):
    """Which backup restore.yml restores: ``requested`` (an id, or
    ``latest``) among ``ids`` (the complete backups). Returns {'id': the
    backup or '', 'problem': why there is none}."""
    complete = sorted(str(i) for i in ids or [])
    requested = str(requested or "")
    if not complete:
        return {"id": "", "problem": "there is no complete backup of this VM"}
    if requested == "latest":
        return {"id": complete[-1], "problem": ""}
    try:
        check_id(requested)
    except BackupError as exc:
        return {"id": "", "problem": str(exc)}
    if requested not in complete:
        return {"id": "", "problem": "no backup %s; the complete ones are %s" % (requested, ", ".join(complete))}
    return {"id": requested, "problem": ""}


class FilterModule:
    def filters(self):
        return {
            "backup_plan": backup_plan,
            "backup_problems": backup_problems,
            "backup_report": backup_report,
            "backup_expired": backup_expired,
            "backup_choice": backup_choice,
            "backup_stored": backup_stored,
        }
