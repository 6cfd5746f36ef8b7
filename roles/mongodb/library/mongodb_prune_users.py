#!/usr/bin/python
"""Delete the users under a prefix that a list does not name, and end their sessions."""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.celery_fleet_mongodb import LOGIN_ARGUMENT_SPEC, client_options

try:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    HAS_PYMONGO = True
except ImportError:  # pragma: no cover
    HAS_PYMONGO = False

DOCUMENTATION = r"""
module: mongodb_prune_users
short_description: Delete a database's users under a prefix that are not kept, and kill their sessions
description:
  - Lists the users of I(database) (C(usersInfo)), drops each whose name starts with I(prefix) and is not in
    I(keep) (C(dropUser)), then kills the sessions those users still hold (C(killAllSessionsByPattern)): a
    dropped user's connection could otherwise go on with the rights it had.
  - The mongodb role keeps the fleet's workers' accounts to exactly those of the inventory with it.
options:
  database: {type: str, required: true, description: The database the users belong to.}
  prefix: {type: str, required: true, description: Only users whose name starts with this are considered.}
  keep: {type: list, elements: str, default: [], description: Names under the prefix that stay.}
extends_documentation_fragment: []
notes: [Login options as mongodb_login_check's.]
requirements: [pymongo >= 4]
"""

RETURN = r"""
deleted_users: {description: Names of the users dropped (in check mode, that would be)., returned: success, type: list}
"""


def stale(names: list[str], prefix: str, keep: list[str]) -> list[str]:
    """The names under `prefix` that are not kept (none for an empty prefix)."""
    if not prefix:
        return []
    return sorted(name for name in set(names) if name.startswith(prefix) and name not in set(keep))


def main():
    module = AnsibleModule(
        argument_spec={
            **LOGIN_ARGUMENT_SPEC,
            "database": {"type": "str", "required": True},
            "prefix": {"type": "str", "required": True},
            "keep": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"))
    params = module.params
    client = MongoClient(**client_options(params, mechanism="SCRAM-SHA-256"))
    try:
        database = client[params["database"]]
        users = database.command("usersInfo")["users"]
        deleted = stale([user["user"] for user in users], params["prefix"], params["keep"])
        if deleted and not module.check_mode:
            for name in deleted:
                database.command("dropUser", name)
            client["admin"].command(
                "killAllSessionsByPattern", [{"users": [{"user": name, "db": params["database"]} for name in deleted]}]
            )
    except PyMongoError as exc:
        module.fail_json(msg=f"Cannot prune the users of {params['database']}: {type(exc).__name__}: {exc}")
    finally:
        client.close()
    module.exit_json(changed=bool(deleted), deleted_users=deleted)


if __name__ == "__main__":
    main()
