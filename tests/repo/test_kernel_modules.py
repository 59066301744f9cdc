"""A kernel that cannot load iscsi_tcp, ocfs2 or drbd fails the iscsi_initiator,
ocfs2 and drbd roles, unless the inventory is a container lab's
(havirt_lab_without_kernel_modules). Offline: the roles' own tasks that decide
it run on this machine against modprobe and stat results as the modules
return them (each case an inventory host, local connection); nothing asks
this machine's kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
# What community.general.modprobe returns (failed_when: false) when the
# module is missing from the kernel's modules (modprobe's own message, from
# a kernel without it: Debian's cloud kernel has no ocfs2), and when it loads.
MODPROBE_MISSING = "modprobe: FATAL: Module {} not found in directory /lib/modules/6.1.0-57-cloud-amd64\n"


def _missing(module):
    return {"changed": False, "failed": False, "failed_when_result": False, "name": module, "params": "",
            "state": "present", "msg": MODPROBE_MISSING.format(module), "rc": 1,
            "stderr": MODPROBE_MISSING.format(module), "stdout": ""}


def _loaded(module):
    return {"changed": True, "failed": False, "failed_when_result": False, "name": module, "params": "",
            "state": "present"}


def _stat(exists):
    return {"changed": False, "failed": False, "stat": {"exists": exists}}


def _loop(*results):
    return {"changed": any(r["changed"] for r in results), "msg": "All items completed",
            "results": [dict(r, item=r["name"], ansible_loop_var="item") for r in results]}


# role -> (its registered modprobe and stat results, as the kernel has it or not)
ROLES = {
    "iscsi_initiator": {
        "missing": {"__iscsi_initiator_modprobe": _missing("iscsi_tcp"), "__iscsi_initiator_kernel": _stat(False),
                    "__iscsi_initiator_install": {"changed": False}},
        "loadable": {"__iscsi_initiator_modprobe": _loaded("iscsi_tcp"), "__iscsi_initiator_kernel": _stat(False),
                     "__iscsi_initiator_install": {"changed": False}},
        "loaded": {"__iscsi_initiator_modprobe": _loaded("iscsi_tcp"), "__iscsi_initiator_kernel": _stat(True),
                   "__iscsi_initiator_install": {"changed": False}},
    },
    "ocfs2": {
        "missing": {"__ocfs2_modprobe": _loop(_missing("ocfs2_stack_o2cb"), _missing("ocfs2")),
                    "__ocfs2_kernel": _stat(False)},
        "loadable": {"__ocfs2_modprobe": _loop(_loaded("ocfs2_stack_o2cb"), _loaded("ocfs2")),
                     "__ocfs2_kernel": _stat(False)},
        "loaded": {"__ocfs2_modprobe": _loop(_loaded("ocfs2_stack_o2cb"), _loaded("ocfs2")),
                   "__ocfs2_kernel": _stat(True)},
    },
    "drbd": {
        "missing": {"__drbd_modprobe": _missing("drbd"), "__drbd_kernel": _stat(False)},
        "loadable": {"__drbd_modprobe": _loaded("drbd"), "__drbd_kernel": _stat(False)},
        "loaded": {"__drbd_modprobe": _loaded("drbd"), "__drbd_kernel": _stat(True)},
    },
}
MODULE = {"iscsi_initiator": "iscsi_tcp", "ocfs2": "ocfs2", "drbd": "drbd"}
REFUSE = {role: f"Refuse a kernel that cannot load {module}" for role, module in MODULE.items()}
SAY = "Say what this kernel cannot do"


def _kernel_tasks(role):
    """The role's own tasks that decide, as written in tasks/main.yml."""
    tasks = yaml.safe_load((ROOT / "roles" / role / "tasks" / "main.yml").read_text())
    chosen = [t for t in tasks if t.get("name") in (REFUSE[role], SAY)]
    assert [t["name"] for t in chosen] == [REFUSE[role], SAY], f"{role}: tasks renamed or missing"
    return chosen


def _run(tmp_path, check):
    """One play per role; each host is a case: STATE-lab or STATE-real."""
    hosts = {}
    plays = []
    for role, states in ROLES.items():
        group = {}
        for state, registered in states.items():
            for lab in (True, False):
                group[f"{role}-{state}-{'lab' if lab else 'real'}"] = dict(
                    registered, havirt_lab_without_kernel_modules=lab, ansible_connection="local",
                    ansible_python_interpreter=sys.executable)
        hosts[role] = {"hosts": group}
        role_dir = ROOT / "roles" / role
        plays.append({"name": role, "hosts": role, "gather_facts": False,
                      "vars_files": [str(role_dir / "defaults" / "main.yml"), str(role_dir / "vars" / "main.yml")],
                      "tasks": _kernel_tasks(role)})
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"children": hosts}}))
    playbook = tmp_path / "kernel.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
    # Only the json callback (it is the stdout one, so listing it adds nothing): ansible-core 2.19+
    # refuses an empty ANSIBLE_CALLBACKS_ENABLED ("A non-empty plugin name is required").
    env.update(ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.json")
    run = subprocess.run(["ansible-playbook", "-i", str(inventory), str(playbook)] + (["--check"] if check else []),
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    results = {}
    for play in json.loads(run.stdout)["plays"]:
        for task in play["tasks"]:
            for host, result in task["hosts"].items():
                if not result.get("skipped"):
                    results.setdefault(host, {})[task["task"]["name"]] = result
    return results


@pytest.fixture(scope="module")
def converge(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("converge"), check=False)


@pytest.fixture(scope="module")
def check_mode(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("check"), check=True)


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_real_server_without_the_module_fails_with_the_reason(converge, role):
    ran = converge[f"{role}-missing-real"]
    assert list(ran) == [REFUSE[role]]
    msg = ran[REFUSE[role]]["msg"]
    assert ran[REFUSE[role]]["failed"]
    assert msg.startswith(f"{role}-missing-real: the kernel cannot load ")
    assert f"(modprobe: FATAL: Module {'ocfs2_stack_o2cb' if role == 'ocfs2' else MODULE[role]} not found" in msg
    assert "havirt_lab_without_kernel_modules: true" in msg


def test_the_ocfs2_message_names_both_modules_and_the_kernel_to_install(converge):
    msg = converge["ocfs2-missing-real"][REFUSE["ocfs2"]]["msg"]
    assert msg.startswith("ocfs2-missing-real: the kernel cannot load ocfs2_stack_o2cb and ocfs2 (")
    assert "install linux-image-amd64 and reboot into it; the cloud kernel, linux-image-cloud-amd64, has no OCFS2" in msg


@pytest.mark.parametrize("role", sorted(ROLES))
def test_a_container_lab_goes_on_and_says_why(converge, role):
    ran = converge[f"{role}-missing-lab"]
    assert list(ran) == [SAY]
    assert not ran[SAY].get("failed")
    assert f"the kernel cannot load {MODULE[role]}" in ran[SAY]["msg"]
    assert ran[SAY]["msg"].endswith(f"Allowed by havirt_lab_without_kernel_modules ({role}_lab_without_kernel_modules): "
                                    "a container lab only.")


@pytest.mark.parametrize("role", sorted(ROLES))
@pytest.mark.parametrize("lab", ["lab", "real"])
def test_a_kernel_with_the_module_neither_fails_nor_complains(converge, check_mode, role, lab):
    assert f"{role}-loaded-{lab}" not in converge
    assert f"{role}-loaded-{lab}" not in check_mode


@pytest.mark.parametrize("role", sorted(ROLES))
def test_check_mode_fails_only_when_modprobe_cannot_load_it(check_mode, role):
    # modprobe -n found the module: not loaded yet, no failure, no excuse.
    assert f"{role}-loadable-real" not in check_mode
    assert list(check_mode[f"{role}-missing-real"]) == [REFUSE[role]]
    assert check_mode[f"{role}-missing-real"][REFUSE[role]]["failed"]
