"""status.yml's lines, as the labs' tests read them: the playbook run with
the lab's inventory and the json callback, the lines of its report task
returned; a failed run or a change fails the test."""

from __future__ import annotations

import json
import re
import subprocess

from labkit import inventory


def status_lines(*extra: str, task_name: str = "Cluster status") -> list[str]:
    # Only the json callback (it is the stdout one, so listing it adds nothing): ansible-core 2.19+
    # refuses an empty ANSIBLE_CALLBACKS_ENABLED ("A non-empty plugin name is required").
    env = inventory.clean_env(ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.json")
    run = subprocess.run(["ansible-playbook", *inventory.inventory_args(), "status.yml", *extra],
                         cwd=inventory.PROJECT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert not re.search(r'"changed": true', run.stdout)
    task = next(t for play in json.loads(run.stdout)["plays"] for t in play["tasks"]
                if t["task"]["name"] == task_name)
    return next(iter(task["hosts"].values()))["msg"]
