#!/usr/bin/python
"""Wait until the mongod this module reaches is the primary of its replica set (nothing changed)."""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.celery_fleet_mongodb import CONNECTION_ARGUMENT_SPEC, client_options

try:
    from pymongo import MongoClient

    HAS_PYMONGO = True
except ImportError:  # pragma: no cover
    HAS_PYMONGO = False

DOCUMENTATION = r"""
module: mongodb_replica_set_primary
short_description: Wait until a mongod is the primary of its replica set
description:
  - Asks mongod C(hello) (which needs no login) until it says it is the writable primary of I(replica_set),
    at most I(timeout) seconds. Changes nothing, so it runs in check mode too.
  - Fails at once when mongod belongs to another replica set, or runs without one (a standalone answers as a
    writable primary, and would take writes no other member sees); fails after I(timeout) naming the member that
    is primary, if any. A set that has no configuration yet (just started, initiation on its way) is waited for.
  - The mongodb role writes users and indexes over loopback on the first hub, the member it gives the higher
    priority; this is its check that those writes will be taken. community.mongodb's status module needs a login,
    which does not exist yet before the first user is made (the localhost exception).
options:
  login_host: {type: str, default: 127.0.0.1, description: Host to connect to.}
  login_port: {type: int, default: 27017, description: Port.}
  tls_ca_file: {type: path, description: CA certificate to verify the server with; empty for no TLS.}
  tls_allow_invalid_hostnames: {type: bool, default: false, description: Skip the host name check (loopback only).}
  replica_set: {type: str, required: true, description: The name of the replica set mongod must be primary of.}
  timeout: {type: int, default: 120, description: Seconds to wait for mongod to become primary.}
requirements: [pymongo >= 4]
"""

RETURN = r"""
me: {description: The member's own host:port, as the replica set names it., returned: always, type: str}
primary: {description: The host:port of the set's primary; empty while none is elected., returned: always, type: str}
waited: {description: Seconds spent waiting., returned: always, type: int}
"""

# Seconds between two questions.
INTERVAL = 2


def judge(hello: dict, replica_set: str) -> tuple[str, str]:
    """What a hello answer means: ("primary", ""), ("wait", ""), or ("wrong", why)."""
    name = hello.get("setName")
    if name is None:
        if hello.get("isWritablePrimary"):
            return "wrong", (
                f"mongod runs without a replica set, not as a member of {replica_set}: its configuration has no "
                f"replication.replSetName (restart it after mongod.conf changed)."
            )
        return "wait", ""
    if name != replica_set:
        return "wrong", f"mongod is a member of replica set {name}, not {replica_set} (mongodb_replica_set_name)."
    return ("primary", "") if hello.get("isWritablePrimary") else ("wait", "")


def wait_for_primary(ask, replica_set, timeout, clock=time.monotonic, sleep=time.sleep):
    """Ask `ask()` (a hello answer) until it says primary, or `timeout` seconds passed.

    Returns (verdict, last answer, seconds waited, why); verdict is "primary", "wrong" or "wait" (timed out).
    """
    start = clock()
    while True:
        hello = ask()
        verdict, why = judge(hello, replica_set)
        waited = clock() - start
        if verdict != "wait" or waited >= timeout:
            return verdict, hello, int(waited), why
        sleep(INTERVAL)


def main():
    module = AnsibleModule(
        argument_spec={
            **CONNECTION_ARGUMENT_SPEC,
            "replica_set": {"type": "str", "required": True},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"))
    params = module.params
    where = f"{params['login_host']}:{params['login_port']}"
    client = MongoClient(**client_options(params))
    try:
        verdict, hello, waited, why = wait_for_primary(
            lambda: client["admin"].command("hello"), params["replica_set"], params["timeout"]
        )
    except Exception as exc:
        module.fail_json(msg=f"Cannot ask mongod on {where} whether it is primary: {type(exc).__name__}: {exc}")
    finally:
        client.close()
    result = {"changed": False, "me": hello.get("me", ""), "primary": hello.get("primary", ""), "waited": waited}
    if verdict == "wrong":
        module.fail_json(msg=why, **result)
    if verdict == "wait":
        member = result["me"] or where
        primary = result["primary"] or "none elected"
        module.fail_json(
            msg=(
                f"{member} is not the primary of replica set {params['replica_set']} after {waited} s (primary: "
                f"{primary}). The role writes users and indexes on the first hub, the member of higher priority: "
                f"start its mongod, or let it catch up with the set, and run again."
            ),
            **result,
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
