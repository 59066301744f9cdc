#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, havirt.cluster contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import (absolute_import, division, print_function)
__metaclass__ = type

DOCUMENTATION = r"""
---
module: disk_image
short_description: A VM's disk image file (raw or qcow2) of at least a given size, never shrunk or overwritten
version_added: 0.1.0
author: havirt.cluster contributors (@havirt)
description:
  - >-
    Makes O(path) a disk image of format O(format) and virtual size O(size): creates it when it does not exist
    (C(qemu-img create), sparse, mode 0600, its missing parent directories 0755; or a copy of O(source)), grows it when it is smaller
    (C(qemu-img resize)), and leaves it alone when it has the size. It reads the image with C(qemu-img info -U),
    which works while a VM runs on it.
  - >-
    Refuses, changing nothing, an image of another format (it is never converted: it is a guest's disk), a size
    smaller than the image (shrinking would cut the guest's file system), and growing an image that a running QEMU
    holds (QEMU's lock refuses the write; the message says how to grow it live with C(virsh blockresize)).
  - >-
    With O(fstype), refuses to create anything unless the image's directory lies on a file system of that type: on
    a cluster, an image written to a hypervisor's root file system because the shared store (OCFS2) is not mounted
    would give one hypervisor a disk the other never sees.
  - >-
    On a shared file system run it on one hypervisor (C(run_once)): the image is the same file for all.
options:
  path:
    description: The image file (absolute).
    type: path
    required: true
  format:
    description: Its format; an existing image of another format is refused.
    type: str
    choices: [raw, qcow2]
    default: raw
  size:
    description:
      - >-
        Its virtual size (what the guest sees): bytes, or a number with V(K), V(M), V(G) or V(T) (binary units, as
        C(qemu-img) reads them), e.g. V(20G); rounded up to whole 512-byte sectors as C(qemu-img) does.
        Needed to create the image; without it an existing image is only checked.
    type: str
  in_use_on:
    description:
      - >-
        The hosts where the VM that uses the image runs now (the caller knows them: the vms role asks libvirt on
        every hypervisor). A grow is then refused with the command that grows the image live (C(virsh
        blockresize)). Needed on a shared file system: QEMU's image lock is seen only on the host that runs the VM
        (on OCFS2 with the O2CB stack C(fcntl) locks are local to each node), so from another hypervisor
        C(qemu-img resize) would rewrite a qcow2 header under a running guest.
    type: list
    elements: str
    default: []
  source:
    description:
      - >-
        An image file on this host (any format C(qemu-img) reads, e.g. a distribution's cloud image) to copy into
        O(path) when O(path) does not exist: converted to O(format) (C(qemu-img convert), sparse) into a hidden
        partial file beside O(path), grown to O(size) when that is bigger, then renamed to O(path), so that a copy
        cut short never passes for a VM's disk. Without O(size) the copy has the source's virtual size; a size
        smaller than the source's is refused.
      - >-
        Ignored when O(path) exists: an image that exists is the guest's disk, whatever the source holds; it is
        never overwritten.
      - >-
        In check mode a source that is not on the host yet (the caller copies it there before the real run) gives
        RV(action) V(create) without RV(commands).
    type: path
  fstype:
    description:
      - >-
        The file system type the image's directory must lie on (as C(/proc/self/mountinfo) names it, e.g.
        V(ocfs2)); checked before anything is created or grown. Empty does not check.
    type: str
    default: ""
requirements:
  - qemu-img (Debian package qemu-utils) on the host; tested with QEMU 7.2 (Debian 12) and 10.0 (Debian 13)
attributes:
  check_mode:
    description: Reads the image (and O(fstype)'s mount) and says what it would do; creates and grows nothing.
    support: full
  diff_mode:
    description: The image's format and virtual size before and after (C(absent) before it exists).
    support: full
notes:
  - >-
    A raw image is a sparse file: it takes the space its guest writes, up to O(size). Keep room on the store for
    every image's full size, or a guest's write fails when the store is full.
"""

EXAMPLES = r"""
- name: A VM's disk copied from a cloud image on the store, once, and grown to 20 GiB
  havirt.cluster.disk_image:
    path: /cluster/vms/speedauth.qcow2
    format: qcow2
    size: 20G
    source: /cluster/images/debian-13-genericcloud-amd64.qcow2
    fstype: ocfs2
  run_once: true

- name: A 20 GiB qcow2 disk for the DNS server on the OCFS2 store (once, for every hypervisor)
  havirt.cluster.disk_image:
    path: /cluster/vms/passata.qcow2
    format: qcow2
    size: 20G
    fstype: ocfs2
  run_once: true

- name: Check an existing raw disk without creating anything
  havirt.cluster.disk_image:
    path: /cluster/vms/speedauth.img
  register: disk
"""

RETURN = r"""
action:
  description: What was done (would be, in check mode) — V(create), V(grow) or V(none).
  returned: success
  type: str
  sample: create
format:
  description: The image's format after the run.
  returned: success
  type: str
  sample: qcow2
virtual_size:
  description: The image's virtual size in bytes after the run (what it would be, in check mode).
  returned: success
  type: int
  sample: 21474836480
previous_size:
  description: Its virtual size in bytes before the run; null when it did not exist.
  returned: success
  type: int
  sample: 10737418240
actual_size:
  description:
    - The space the image takes on its file system, in bytes, as qemu-img read it before any change (0 when it did not exist).
  returned: success
  type: int
  sample: 200704
source:
  description: The source image a created image was copied from; null when it was created empty.
  returned: when O(path) was created (would be, in check mode)
  type: str
  sample: /cluster/images/debian-13-genericcloud-amd64.qcow2
commands:
  description: >-
    Every qemu-img command run (to be run, in check mode), in order: a create; a convert from O(source), then a
    resize when the size is bigger than the source's; or a resize. Empty when nothing changes.
  returned: success
  type: list
  elements: list
  sample: [[qemu-img, convert, -q, -f, qcow2, -O, qcow2, /cluster/images/debian-13.qcow2, /cluster/vms/.a.qcow2.havirt-partial]]
command:
  description: The first of RV(commands) (empty when nothing changes).
  returned: success
  type: list
  elements: str
  sample: [qemu-img, resize, -f, qcow2, /cluster/vms/passata.qcow2, "21474836480"]
"""

import errno
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.havirt.cluster.plugins.module_utils.qemu_img import (
    ImageError, create_commands, fstype_problem, human, is_lock_error, parse_info, parse_mountinfo, parse_size,
    partial_path, plan)

MOUNTINFO = "/proc/self/mountinfo"


def read_image(module, qemu_img, path):
    """parse_info's dict for ``path``, or None when it does not exist."""
    if not os.path.lexists(path):
        return None
    rc, out, err = module.run_command([qemu_img, "info", "--output=json", "-U", path])
    if rc != 0:
        raise ImageError("qemu-img info %s failed (rc %d): %s" % (path, rc, (err or out).strip()))
    return parse_info(out)


def read_source(module, qemu_img, source):
    """parse_info's dict of the image to copy, with its path; refused when
    it is not there."""
    if not os.path.isabs(source):
        raise ImageError("source %s is not absolute" % source)
    found = read_image(module, qemu_img, source)
    if found is None:
        raise ImageError("the source image %s does not exist on this host: copy it there first (the vms role "
                         "copies a VM's image to vms_image_dir)" % source)
    found["path"] = source
    return found


def copy_from_source(module, commands, path):
    """Run the convert (and resize) into the partial file, then rename it
    to ``path``; a failure removes the partial file and fails the module."""
    partial = partial_path(path)
    for command in commands:
        rc, out, err = module.run_command(command)
        if rc != 0:
            if os.path.lexists(partial):
                os.unlink(partial)
            module.fail_json(msg="%s failed (rc %d): %s. Nothing was changed." % (
                " ".join(command), rc, (err or out).strip()), changed=False)
    os.chmod(partial, 0o600)
    os.rename(partial, path)


def check_fstype(path, fstype):
    if not fstype:
        return
    with open(MOUNTINFO) as handle:
        problem = fstype_problem(parse_mountinfo(handle.read()), path, fstype)
    if problem:
        raise ImageError("refusing to write %s: %s" % (path, problem))


def refuse(module, exc):
    """Fail with the refusal as a sentence, and that nothing changed."""
    text = str(exc).rstrip(".")
    module.fail_json(msg="%s%s Nothing was changed." % (text, "" if text.endswith("?") else "."), changed=False)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            format=dict(type="str", choices=["raw", "qcow2"], default="raw"),
            size=dict(type="str"),
            fstype=dict(type="str", default=""),
            in_use_on=dict(type="list", elements="str", default=[]),
            source=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    module.run_command_environ_update = dict(LANG="C", LC_ALL="C", LC_MESSAGES="C")
    path, fmt = module.params["path"], module.params["format"]
    if not os.path.isabs(path):
        module.fail_json(msg="path %s is not absolute. Nothing was changed." % path)
    qemu_img = module.get_bin_path("qemu-img")
    if qemu_img is None:
        module.fail_json(msg="qemu-img is not installed on this host (Debian: apt install qemu-utils). "
                             "Nothing was changed.")
    try:
        size = None if module.params["size"] in (None, "") else parse_size(module.params["size"])
        current = read_image(module, qemu_img, path)
        source = None
        if current is None and module.params["source"]:
            if module.check_mode and not os.path.lexists(module.params["source"]):
                # The caller copies the image here before the real run.
                module.exit_json(changed=True, action="create", format=fmt, virtual_size=size, previous_size=None,
                                 actual_size=0, source=module.params["source"], command=[], commands=[])
            source = read_source(module, qemu_img, module.params["source"])
        action = plan(path, current, fmt, size, source)
    except ImageError as exc:
        refuse(module, exc)
    if action == "create" and size is None:
        size = source["virtual_size"]

    before = dict(format=current["format"], virtual_size=current["virtual_size"]) if current else "absent"
    result = dict(changed=action != "none", action=action, format=fmt,
                  virtual_size=size if action != "none" else current["virtual_size"],
                  previous_size=current["virtual_size"] if current else None,
                  actual_size=current["actual_size"] if current else 0, command=[])
    commands = []
    if action == "create":
        commands = create_commands(qemu_img, path, fmt, size, source)
        result["source"] = source["path"] if source else None
    elif action == "grow":
        commands = [[qemu_img, "resize", "-q", "-f", fmt, path, str(size)]]
    result["command"] = commands[0] if commands else []
    result["commands"] = commands
    if module._diff and action != "none":
        result["diff"] = dict(before_header=path, after_header=path, before=before,
                              after=dict(format=fmt, virtual_size=size))
    if action == "none":
        module.exit_json(**result)
    if action == "grow" and module.params["in_use_on"]:
        module.fail_json(
            msg="%s is the disk of a VM running on %s, so it cannot be grown from %s to %s with qemu-img. Grow it live "
                "on that hypervisor (virsh blockresize VM vda %dB), or stop the VM and run again. Nothing was changed."
                % (path, ", ".join(module.params["in_use_on"]), human(current["virtual_size"]), human(size), size),
            changed=False)
    try:
        check_fstype(path, module.params["fstype"])
    except ImageError as exc:
        refuse(module, exc)
    if module.check_mode:
        module.exit_json(**result)
    if action == "create":
        try:
            os.makedirs(os.path.dirname(path), 0o755)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                module.fail_json(msg="cannot create the directory of %s: %s. Nothing was changed." % (path, exc))
    if source is not None:
        copy_from_source(module, commands, path)
        module.exit_json(**result)
    rc, out, err = module.run_command(result["command"])
    if rc != 0:
        message = (err or out).strip()
        if is_lock_error(message):
            module.fail_json(
                msg="%s is in use by a running VM (QEMU holds its lock), so it cannot be grown from %s to %s here. "
                    "Grow it live on the hypervisor that runs the VM (virsh blockresize VM vda %dB), or stop the VM "
                    "and run again. Nothing was changed." % (path, human(current["virtual_size"]), human(size), size),
                changed=False)
        module.fail_json(msg="%s failed (rc %d): %s" % (" ".join(result["command"]), rc, message), changed=False)
    if action == "create":
        os.chmod(path, 0o600)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
