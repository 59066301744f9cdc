"""Every role that a playbook enters through tasks_from has an argument
spec for that entry point, under the name Ansible looks for.

Ansible validates a role's arguments against the spec named exactly as
tasks_from is written (`tasks_from: validate.yml` asks for an entry point
'validate.yml'), and silently validates nothing when there is no such
spec. playbooks/validate.yml once imported every role with
`tasks_from: validate.yml`: none of the roles' `validate` specs ever ran
there, and a bad type got through to the role's own run, after other
roles had changed the nodes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))


def _entries(node):
    """(role, tasks_from) of every import_role / include_role below node."""
    if isinstance(node, dict):
        for key in ("ansible.builtin.import_role", "ansible.builtin.include_role"):
            if isinstance(node.get(key), dict) and "tasks_from" in node[key]:
                yield node[key]["name"], node[key]["tasks_from"]
        for value in node.values():
            yield from _entries(value)
    elif isinstance(node, list):
        for value in node:
            yield from _entries(value)


ENTRIES = sorted({entry for playbook in PLAYBOOKS for entry in _entries(yaml.safe_load(playbook.read_text()))})


def test_the_playbooks_enter_roles_through_tasks_from():
    assert ("havirt.cluster.ntp", "validate") in ENTRIES, ENTRIES


@pytest.mark.parametrize("role,tasks_from", ENTRIES, ids=["%s:%s" % entry for entry in ENTRIES])
def test_each_entry_point_has_its_argument_spec(role, tasks_from):
    name = role.split(".")[-1]
    specs = yaml.safe_load((ROOT / "roles" / name / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert tasks_from in specs, (
        "%s is entered with tasks_from: %s, but its argument_specs.yml has no entry point of that name (%s): "
        "Ansible would check none of its arguments there" % (role, tasks_from, ", ".join(specs)))
