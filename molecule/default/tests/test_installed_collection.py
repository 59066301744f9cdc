"""The collection as a user installs it: build the tarball, install it, and
run havirt.cluster.site from it against the converged lab (no change)."""

from __future__ import annotations

import json
import re
import subprocess
import tarfile

import yaml


def test_site_runs_from_the_built_collection(inv, tmp_path):
    build = subprocess.run(
        ["ansible-galaxy", "collection", "build", "--output-path", str(tmp_path), str(inv.PROJECT)],
        env=inv.clean_env(), capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    tarball = next(tmp_path.glob("havirt-cluster-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    # galaxy.yml itself is not shipped: ansible-galaxy writes it into
    # MANIFEST.json, and the checksum of every file into FILES.json.
    for wanted in ("MANIFEST.json", "FILES.json", "playbooks/site.yml", "roles/ntp/tasks/main.yml",
                   "roles/hosts/tasks/main.yml", "plugins/filter/hosts_entries.py", "meta/runtime.yml"):
        assert wanted in names, (wanted, build.stdout)
    galaxy = yaml.safe_load((inv.PROJECT / "galaxy.yml").read_text())
    info = manifest["collection_info"]
    assert {key: info[key] for key in ("namespace", "name", "version", "dependencies")} == \
        {key: galaxy.get(key, {}) for key in ("namespace", "name", "version", "dependencies")}, info
    for unwanted in ("molecule", "inventories", "collections", "tools", ".ci", ".lab", ".venv"):
        assert not any(n == unwanted or n.startswith(unwanted + "/") for n in names), unwanted

    collections = tmp_path / "collections"
    subprocess.run(
        ["ansible-galaxy", "collection", "install", "--force", "-p", str(collections), str(tarball)],
        env=inv.clean_env(), capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    run = subprocess.run(
        ["ansible-playbook", "--diff", *inv.inventory_args(), "havirt.cluster.site"],
        env=inv.clean_env(ANSIBLE_COLLECTIONS_PATH=str(collections)),
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    recap = re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+).*failed=(\d+)", output, re.M)
    assert sorted(h for h, _, _ in recap) == inv.group("cluster"), output
    assert all(changed == "0" and failed == "0" for _, changed, failed in recap), output
