# Written by the havirt.cluster backup role (backup_schedule); run by
# havirt-backup-prune.timer on the backup host: in each VM's directory below
# DIR, the KEEP newest complete backups stay (complete: the manifest, sent
# last, arrived), with the backups they are incremental on (each names its
# parent: a parent-ID file); a transfer interrupted more than a day ago goes too. The
# rule is the collection's (module_utils/vm_backup.py prune_plan).
# Usage: python3 havirt-backup-prune.py DIR KEEP
"""havirt-backup-prune: the backup host's retention."""

import os
import shutil
import sys
import time

sys.path.insert(0, "/usr/local/lib/havirt/python")

from ansible_collections.havirt.cluster.plugins.module_utils import vm_backup as vb  # noqa: E402


def main():
    directory, keep = sys.argv[1], int(sys.argv[2])
    now = time.time()
    deleted = 0
    for vm in sorted(os.listdir(directory)):
        vm_dir = os.path.join(directory, vm)
        if not os.path.isdir(vm_dir) or os.path.islink(vm_dir):
            continue
        entries = []
        for name in os.listdir(vm_dir):
            path = os.path.join(vm_dir, name)
            if os.path.isdir(path) and not os.path.islink(path):
                try:
                    parent = vb.parent_of(os.listdir(path))
                except vb.BackupError as exc:
                    print("%s/%s left alone: %s" % (vm, name, exc))
                    continue
                entries.append((name, os.path.exists(os.path.join(path, vb.MANIFEST)), os.path.getmtime(path), parent))
        for name in vb.prune_plan(entries, keep, now):
            shutil.rmtree(os.path.join(vm_dir, name))
            deleted += 1
            print("%s/%s deleted" % (vm, name))
    print("%d backup(s) deleted; the newest %d of each VM stay" % (deleted, keep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
