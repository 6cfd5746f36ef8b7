#!/usr/bin/python
"""Make a worker's next account (playbooks/rotate.yml) its current one, in the controller's secrets folder."""

import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: fleet_promote_account
short_description: Promote a worker's next account once the hub has it
description:
  - Renames C(<service>-<host>.next) to C(<service>-<host>) for each service that has one (a password the vault
    lists has none) and writes the next generation to C(generation-<host>) (absent, 1): the lookup
    fleet_worker_accounts then returns the account the hub has just made, C(<prefix><host>~<generation>).
  - Runs on the controller. The generation is written last, each file by a rename, so that an interrupted run
    leaves either the old account or the new one whole on the controller's side.
options:
  secrets_dir: {type: path, required: true, description: The folder of the generated passwords (fleet_secrets_dir).}
  host: {type: str, required: true, description: The worker's inventory name.}
"""

RETURN = r"""
generation: {description: The host's generation now., returned: success, type: int}
"""


def promote(secrets_dir: str, host: str, check: bool = False) -> int:
    """Promote the host's next account; its new generation."""
    path = os.path.join(secrets_dir, f"generation-{host}")
    try:
        with open(path, encoding="ascii") as found:
            generation = int(found.read().strip() or 1)
    except FileNotFoundError:
        generation = 1
    if check:
        return generation + 1
    for service in ("broker", "mongodb"):
        pending = os.path.join(secrets_dir, f"{service}-{host}.next")
        if os.path.exists(pending):
            os.replace(pending, pending[: -len(".next")])
    with open(path + ".tmp", "w", encoding="ascii") as out:
        out.write(f"{generation + 1}\n")
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)
    return generation + 1


def main():
    module = AnsibleModule(
        argument_spec={"secrets_dir": {"type": "path", "required": True}, "host": {"type": "str", "required": True}},
        supports_check_mode=True,
    )
    generation = promote(module.params["secrets_dir"], module.params["host"], module.check_mode)
    module.exit_json(changed=True, generation=generation)


if __name__ == "__main__":
    main()
