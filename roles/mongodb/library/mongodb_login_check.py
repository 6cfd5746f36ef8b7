#!/usr/bin/python
"""Tell which password logs a MongoDB user in: the current one, the previous one, or neither (nothing changed)."""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.celery_fleet_mongodb import LOGIN_ARGUMENT_SPEC, client_options

try:
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    HAS_PYMONGO = True
except ImportError:  # pragma: no cover
    HAS_PYMONGO = False

DOCUMENTATION = r"""
module: mongodb_login_check
short_description: Find which password, if any, logs a user in to mongod
description:
  - Connects with SCRAM-SHA-256 and runs C(connectionStatus) with I(login_password), then, only when mongod
    refuses it, with I(previous_password). Changes nothing, so it runs in check mode too. Any other error
    (mongod down, TLS refused) fails the task; no password is ever part of a message.
  - When neither password logs in (C(login=none)) it also returns C(refused), a message for the caller to show
    if it then fails to create the user without a login. The mongodb role does that for the administrator;
    mongod lets a loopback connection create its first user only while it has none (the localhost exception),
    so a refusal means users exist and the password is wrong. The message names mongodb_admin_password and
    mongodb_admin_previous_password, the mongodb role's variables that hold the administrator's two passwords.
  - The mongodb role acts on C(login); this module is the one place that tries the passwords.
  - community.mongodb's user module sets a password always or only on creation (C(update_password)) and
    cannot tell whether the current one still works; its info module needs a login that already works.
options:
  login_host: {type: str, default: 127.0.0.1, description: Host to connect to.}
  login_port: {type: int, default: 27017, description: Port.}
  login_user: {type: str, required: true, description: User name.}
  login_password: {type: str, required: true, no_log: true, description: Password to try first.}
  login_database: {type: str, default: admin, description: The user's authentication database.}
  tls_ca_file: {type: path, description: CA certificate to verify the server with; empty for no TLS.}
  tls_allow_invalid_hostnames: {type: bool, default: false, description: Skip the host name check (loopback only).}
  previous_password:
    type: str
    default: ""
    no_log: true
    description: Tried when I(login_password) is refused (a password being changed); empty for none.
requirements: [pymongo >= 4]
"""

RETURN = r"""
login:
  description:
    - C(current) (I(login_password) logs in), C(previous) (only I(previous_password) does) or C(none) (neither).
  returned: success
  type: str
authenticated: {description: Whether I(login_password) logs in (C(login=current))., returned: success, type: bool}
refused:
  description:
    - Why no login works, for the caller to show once mongod also refuses to create the user without a login
      (it then has users). Names the mongodb role's administrator variables (mongodb_admin_password, and
      mongodb_admin_previous_password); never holds a password.
  returned: when C(login=none)
  type: str
"""

CURRENT, PREVIOUS, NONE = "current", "previous", "none"

# mongod's error code (src/mongo/base/error_codes.yml).
AUTHENTICATION_FAILED = 18


def refused_message(user: str, previous_tried: bool) -> str:
    if previous_tried:
        return (
            f"MongoDB already has users, and neither mongodb_admin_password nor mongodb_admin_previous_password "
            f"logs in as {user}. Put {user}'s current password in mongodb_admin_previous_password (the new one "
            f"stays in mongodb_admin_password) for one run."
        )
    return (
        f"MongoDB already has users, and mongodb_admin_password does not log in as {user}. To change that "
        f"password, set the current one in mongodb_admin_previous_password for one run."
    )


def which_login(logs_in, password, previous_password):
    """The login that works, trying no more than needed.

    `logs_in(password)` asks mongod. The current password wins; the previous
    one counts only when the current one is refused (and is not empty).
    """
    if logs_in(password):
        return CURRENT
    if previous_password and logs_in(previous_password):
        return PREVIOUS
    return NONE


def logs_in(params, password) -> bool:
    """Whether mongod accepts `password` for the user (connectionStatus after a SCRAM-SHA-256 login)."""
    client = MongoClient(**client_options({**params, "login_password": password}, mechanism="SCRAM-SHA-256"))
    try:
        client[params["login_database"]].command("connectionStatus")
    except OperationFailure as exc:
        if exc.code == AUTHENTICATION_FAILED:
            return False
        raise
    finally:
        client.close()
    return True


def main():
    module = AnsibleModule(
        argument_spec={**LOGIN_ARGUMENT_SPEC, "previous_password": {"type": "str", "default": "", "no_log": True}},
        supports_check_mode=True,
    )
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"))
    params = module.params
    previous_password = params["previous_password"] or ""
    try:
        login = which_login(lambda password: logs_in(params, password), params["login_password"], previous_password)
    except OperationFailure as exc:
        module.fail_json(msg=f"mongod refused the check: {(exc.details or {}).get('errmsg', exc.code)}")
    except Exception as exc:
        module.fail_json(
            msg=f"Cannot reach mongod on {params['login_host']}:{params['login_port']}: {type(exc).__name__}"
        )
    result = {"changed": False, "login": login, "authenticated": login == CURRENT}
    if login == NONE:
        result["refused"] = refused_message(params["login_user"], previous_tried=bool(previous_password))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
