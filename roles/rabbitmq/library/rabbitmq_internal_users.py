#!/usr/bin/python
"""Manage RabbitMQ's internal users without a password on any command line."""

import base64
import hashlib
import hmac
import json
import os
import pwd
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: rabbitmq_internal_users
short_description: Create RabbitMQ users, set their passwords, tags and permissions, with no password in argv
description:
  - community.rabbitmq's user module runs C(rabbitmqctl authenticate_user NAME PASSWORD) and
    C(change_password NAME PASSWORD): for the second or two each takes, any local user reads the
    password in C(/proc/PID/cmdline). RabbitMQ 3.10's CLI reads no password from standard input.
  - This module reads the users from C(rabbitmqctl export_definitions) (stdout), checks each
    password against its stored salted hash here, and hands what must change to
    C(rabbitmqctl import_definitions) in a file only the broker's user can read, removed at once, as a salted hash
    (https://www.rabbitmq.com/docs/passwords#computing-password-hash). No password, and no hash,
    is ever an argument of a process.
  - An unchanged user is left alone, so a second run reports no change. Permissions on vhosts the
    entry does not list, and users not listed, are left as they are.
options:
  node: {type: str, default: rabbit, description: Node to manage (rabbitmqctl -n).}
  users:
    type: list
    elements: dict
    required: true
    description:
      - Each with C(name), C(password) (never logged), C(tags) (list) and C(permissions), a list of
        C(vhost), C(configure), C(write), C(read).
  absent:
    type: list
    elements: str
    default: []
    description:
      - Users deleted when present (guest, a service no longer used), and their open connections closed.
  exclusive_prefix:
    type: str
    default: ""
    description:
      - When set, every user whose name starts with it and that I(users) does not list is deleted, and every
        connection such a user still holds is closed (a deleted user's open connections go on otherwise).
  timeout: {type: int, default: 60, description: Seconds to wait for the broker to apply an import.}
  file_owner: {type: str, default: rabbitmq, description: User the CLI runs as, who alone may read the import file.}
"""

RETURN = r"""
changed_users: {description: Names of the users created or changed., returned: always, type: list}
deleted_users: {description: Names of the users deleted (I(absent), I(exclusive_prefix))., returned: always, type: list}
closed_connections: {description: How many connections of unlisted users were closed., returned: always, type: int}
"""

# RabbitMQ's hashing modules: the hash is base64(salt + H(salt + password)),
# with a 4-byte salt.
HASHES = {
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
    "rabbit_password_hashing_md5": hashlib.md5,
}
NEW_HASH = "rabbit_password_hashing_sha256"
SALT_BYTES = 4


def password_hash(password: str, salt: bytes | None = None, algorithm: str = NEW_HASH) -> str:
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = HASHES[algorithm](salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def password_matches(password: str, stored: str, algorithm: str) -> bool:
    """Whether `password` is the one behind a hash as export_definitions shows it."""
    if algorithm not in HASHES or not stored:
        return False
    try:
        salt = base64.b64decode(stored)[:SALT_BYTES]
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(password_hash(password, salt, algorithm), stored)


def tags_of(user: dict) -> list[str]:
    """Tags as a sorted list (3.8 exported them as one comma-separated string)."""
    tags = user.get("tags", [])
    if isinstance(tags, str):
        tags = [tag for tag in tags.split(",") if tag]
    return sorted(tags)


def plan(wanted: list[dict], definitions: dict) -> tuple[list[str], dict]:
    """The users to change and the definitions that change them.

    A user is changed when it is missing, its password does not match, its
    tags differ, or a listed vhost's permissions differ. Its entry keeps the
    stored hash when the password matches.
    """
    current = {user["name"]: user for user in definitions.get("users", [])}
    permissions = {(p["user"], p["vhost"]): p for p in definitions.get("permissions", [])}
    changed, users, grants = [], [], []
    for user in wanted:
        name, stored = user["name"], current.get(user["name"])
        same_password = stored is not None and password_matches(
            user["password"], stored.get("password_hash", ""), stored.get("hashing_algorithm", "")
        )
        wanted_grants = [
            {"user": name, "vhost": p["vhost"], "configure": p["configure"], "write": p["write"], "read": p["read"]}
            for p in user.get("permissions", [])
        ]
        same_grants = all(permissions.get((name, grant["vhost"])) == grant for grant in wanted_grants)
        same_tags = stored is not None and tags_of(stored) == sorted(user.get("tags", []))
        if same_password and same_tags and same_grants:
            continue
        changed.append(name)
        users.append(
            {
                "name": name,
                "password_hash": stored["password_hash"] if same_password else password_hash(user["password"]),
                "hashing_algorithm": stored["hashing_algorithm"] if same_password else NEW_HASH,
                "tags": sorted(user.get("tags", [])),
                "limits": stored.get("limits", {}) if stored else {},
            }
        )
        grants.extend(wanted_grants)
    return changed, {"users": users, "permissions": grants}


def stale(wanted: list[dict], names: list[str], prefix: str, absent: tuple[str, ...] = ()) -> list[str]:
    """The users among `names` to delete: unlisted ones under `prefix` (if any), and those in `absent`."""
    listed = {user["name"] for user in wanted}
    return sorted(
        {name for name in names if name not in listed and ((prefix and name.startswith(prefix)) or name in absent)}
    )


# RabbitMQ's connection states in which a client has logged in.
ESTABLISHED = {"running", "flow", "blocking", "blocked"}


def close_stale_connections(
    module, ctl: list[str], wanted: list[dict], prefix: str, absent: tuple[str, ...] = (), attempts: int = 5
) -> int:
    """Close every connection of a user `stale` names; how many there were.

    A connection may end by itself meanwhile (its user just deleted, its worker stopping), and closing it
    then fails: the list is read again until no such connection is left, and only one that stays fails.
    Only established connections count: a revoked worker that still runs keeps trying to log in, and its
    attempts show in the list (starting, tuning, opening) until the broker refuses them.
    """
    seen, error = set(), ""
    for attempt in range(attempts):
        rc, out, err = module.run_command([*ctl, "list_connections", "user", "pid", "state", "--formatter", "json"])
        if rc != 0:
            module.fail_json(msg=f"rabbitmqctl list_connections failed (exit {rc}): {err.strip()[-500:]}")
        connections = json.loads(out[out.index("[") :]) if "[" in out else []
        closing = set(stale(wanted, [connection["user"] for connection in connections], prefix, absent))
        left = [
            connection
            for connection in connections
            if connection["user"] in closing and connection.get("state", "running") in ESTABLISHED
        ]
        if not left or module.check_mode:
            return len(seen | {connection["pid"] for connection in left})
        for connection in left:
            seen.add(connection["pid"])
            reason = f"{connection['user']} is no longer an account of the fleet"
            rc, _, err = module.run_command([*ctl, "close_connection", connection["pid"], reason])
            error = err.strip()[-300:] if rc != 0 else error
        time.sleep(min(2**attempt, 5))
    module.fail_json(msg=f"Connections of removed users are still open ({', '.join(sorted(closing))}): {error}")


def main():
    module = AnsibleModule(
        argument_spec={
            "node": {"type": "str", "default": "rabbit"},
            "users": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "name": {"type": "str", "required": True},
                    "password": {"type": "str", "required": True, "no_log": True},
                    "tags": {"type": "list", "elements": "str", "default": []},
                    "permissions": {
                        "type": "list",
                        "elements": "dict",
                        "default": [],
                        "options": {
                            "vhost": {"type": "str", "required": True},
                            "configure": {"type": "str", "default": "^$"},
                            "write": {"type": "str", "default": "^$"},
                            "read": {"type": "str", "default": "^$"},
                        },
                    },
                },
            },
            "absent": {"type": "list", "elements": "str", "default": []},
            "exclusive_prefix": {"type": "str", "default": ""},
            "timeout": {"type": "int", "default": 60},
            "file_owner": {"type": "str", "default": "rabbitmq"},
        },
        supports_check_mode=True,
    )
    ctl = [module.get_bin_path("rabbitmqctl", required=True), "-n", module.params["node"], "--quiet"]
    for user in module.params["users"]:
        if not user["name"] or not user["password"]:
            module.fail_json(msg="Each entry of users needs a name and a non-empty password.")

    def export() -> dict:
        rc, out, err = module.run_command([*ctl, "export_definitions", "-", "--format", "json"])
        if rc != 0:
            module.fail_json(msg=f"rabbitmqctl export_definitions failed (exit {rc}): {err.strip()[-500:]}")
        return json.loads(out[out.index("{") :])

    exported = export()
    changed, definitions = plan(module.params["users"], exported)
    prefix, absent = module.params["exclusive_prefix"], tuple(module.params["absent"])
    deleted = stale(module.params["users"], [user["name"] for user in exported.get("users", [])], prefix, absent)
    if changed and not module.check_mode:
        # From a file that only the broker's own user can read, removed at
        # once: RabbitMQ 4.0's rabbitmqctl starts import_definitions without
        # standard input (its wrapper passes -noinput for every command but a
        # few), and Debian's wrapper runs the CLI as that user. The file holds
        # salted hashes (that user reads them in the broker's database
        # anyway), never a password.
        owner = pwd.getpwnam(module.params["file_owner"])
        folder = tempfile.mkdtemp(prefix="celery-fleet-users-")
        path = os.path.join(folder, "definitions.json")
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
                json.dump(definitions, out)
            os.chown(path, owner.pw_uid, owner.pw_gid)
            os.chown(folder, owner.pw_uid, owner.pw_gid)
            rc, _, err = module.run_command([*ctl, "import_definitions", path])
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if rc != 0:
            module.fail_json(msg=f"rabbitmqctl import_definitions failed (exit {rc}): {err.strip()[-500:]}")
        # The import runs in the background on some versions ("This process
        # is asynchronous"): wait until the broker shows the wanted state.
        deadline = time.monotonic() + module.params["timeout"]
        while plan(module.params["users"], export())[0]:
            if time.monotonic() > deadline:
                module.fail_json(msg=f"The broker did not apply the users' changes in {module.params['timeout']} s.")
            time.sleep(0.5)
    for name in deleted if not module.check_mode else []:
        rc, _, err = module.run_command([*ctl, "delete_user", name])
        if rc != 0 and "no_such_user" not in err:
            module.fail_json(msg=f"rabbitmqctl delete_user {name} failed (exit {rc}): {err.strip()[-500:]}")
    closed = close_stale_connections(module, ctl, module.params["users"], prefix, absent) if prefix or absent else 0
    module.exit_json(
        changed=bool(changed or deleted or closed),
        changed_users=changed,
        deleted_users=deleted,
        closed_connections=closed,
    )


if __name__ == "__main__":
    main()
