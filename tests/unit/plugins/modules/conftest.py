"""Running a module's main() in-process for the edge-case tests: arguments
in, run_command answered by the test, the result or failure out."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils import basic


class Exit(Exception):
    pass


class Fail(Exception):
    pass


@pytest.fixture
def run_module(monkeypatch):
    """run_module(main, args, run_command, binary=..., check_mode=False,
    diff=False) -> ("exit" or "fail", result dict). ``run_command(argv,
    data)`` answers (rc, stdout, stderr); ``binary`` is what get_bin_path
    finds (None: not installed), or a function of the tool's name."""
    def runner(main, args, run_command, binary, check_mode=False, diff=False):
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps(dict(ANSIBLE_MODULE_ARGS=args)).encode())
        # ansible-core 2.19+ reads the arguments with a serialization profile (none before).
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)
        monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                            lambda self, name, *a, **k: binary(name) if callable(binary) else binary)

        def answer(self, argv, *a, **k):
            return run_command(argv, k.get("data"))

        # The module's warnings, returned with its result as Ansible shows them. (Once anything of
        # the controller is imported, ansible-core 2.19+ sends module_utils' warnings to the
        # controller's display instead of the module's result.)
        warned = []

        def warn(self, warning, *a, **k):
            warned.append(warning)

        def exit_json(self, **result):
            raise Exit(dict(result, warnings=warned) if warned else result)

        def fail_json(self, **result):
            raise Fail(dict(result, warnings=warned) if warned else result)

        monkeypatch.setattr(basic.AnsibleModule, "warn", warn)
        monkeypatch.setattr(basic.AnsibleModule, "run_command", answer)
        monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
        monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
        with pytest.raises((Exit, Fail)) as info:
            main()
        return ("exit" if info.type is Exit else "fail"), info.value.args[0]
    return runner
