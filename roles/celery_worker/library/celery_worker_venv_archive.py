#!/usr/bin/python
"""A built virtualenv's archive in the controller's cache, used only when it is whole."""

import gzip
import hashlib
import os
import tarfile
import zlib

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: celery_worker_venv_archive
short_description: Check a virtualenv archive in the controller's cache, or move a fetched one there once verified
description:
  - Without I(fetched), checks the cached I(path) - read to its end (gzip's CRC and length), its tar members
    listed, I(marker) among them - and says whether it is I(usable). A damaged one (a fetch cut short, a full disk)
    is removed with a warning, so that a host of its platform builds the virtualenv again.
  - With I(fetched), the file just fetched from the building host (under a temporary name), checks it the same way
    and against I(checksum), the sha256 the building host read; only then renames it to I(path). One that fails is
    removed and the task fails.
  - Runs on the controller; in check mode it removes and renames nothing.
options:
  path: {type: path, required: true, description: The archive's place in the cache.}
  marker:
    type: str
    required: true
    description: A member a whole archive holds (the file the build writes last, before packing).
  fetched: {type: path, description: A file just fetched from the building host, to verify and move to I(path).}
  checksum: {type: str, description: The sha256 (hex) the building host read; required with I(fetched).}
"""

RETURN = r"""
usable:
  description: Whether I(path) holds a whole archive (after the move, with I(fetched)).
  returned: always
  type: bool
problem: {description: What is wrong with the file checked; empty when nothing is., returned: always, type: str}
"""


def sha256(path: str) -> str:
    hashed = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hashed.update(block)
    return hashed.hexdigest()


def archive_problem(path: str, marker: str, checksum: str = "") -> str:
    """What makes the archive at `path` unusable, or "" when it is whole: read to the end of its gzip stream
    (which checks the stream's CRC and length), holding `marker`, and with the sha256 `checksum` when given."""
    if not os.path.isfile(path):
        return "missing"
    if checksum and sha256(path) != checksum.lower():
        return f"its sha256 is not the building host's ({checksum})"
    try:
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 20):
                pass
        with tarfile.open(path, "r:gz") as tar:
            names = {os.path.normpath(name) for name in tar.getnames()}
    except (OSError, EOFError, zlib.error, tarfile.TarError) as error:
        return f"unreadable: {error or type(error).__name__}"
    if os.path.normpath(marker) not in names:
        return f"it holds no {marker}"
    return ""


def remove(path: str) -> None:
    # Hosts of one platform check the same file side by side: another may have removed it.
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def main():
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "marker": {"type": "str", "required": True},
            "fetched": {"type": "path"},
            "checksum": {"type": "str"},
        },
        required_by={"fetched": "checksum"},
        supports_check_mode=True,
    )
    params = module.params
    if params["fetched"]:
        problem = archive_problem(params["fetched"], params["marker"], params["checksum"])
        if problem:
            if not module.check_mode:
                remove(params["fetched"])
            module.fail_json(
                msg=f"The virtualenv archive fetched to {params['fetched']} is not whole ({problem}): removed, the "
                "cache is left as it was. Run again to build and fetch it again.",
                usable=False,
                problem=problem,
            )
        if not module.check_mode:
            os.replace(params["fetched"], params["path"])
        module.exit_json(changed=True, usable=True, problem="")
    problem = archive_problem(params["path"], params["marker"])
    damaged = problem not in ("", "missing")
    if damaged:
        if not module.check_mode:
            remove(params["path"])
        module.warn(
            f"The cached virtualenv archive {params['path']} is damaged ({problem}): "
            f"{'it would be' if module.check_mode else 'removed, it is'} built again on a host of its platform."
        )
    module.exit_json(changed=damaged, usable=not problem, problem=problem)


if __name__ == "__main__":
    main()
