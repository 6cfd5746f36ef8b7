#!/usr/bin/python
"""Tell which password logs a MongoDB user in, and for the administrator how else (nothing changed)."""

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
short_description: Find which password logs a user in to mongod, or whether its first user is still to be made
description:
  - Connects with SCRAM-SHA-256 and runs C(connectionStatus) with I(login_password), then, only when mongod
    refuses it, with I(previous_password). Changes nothing, so it runs in check mode too. Any other error
    (mongod down, TLS refused) fails the task; no password is ever part of a message.
  - With I(localhost_exception) (the administrator), when neither password logs in, it asks mongod without a
    login whether it still has no user at all (the localhost exception, which lets a loopback connection
    create the first one). If it has users, the task fails, naming mongodb_admin_password and
    mongodb_admin_previous_password, the mongodb role's variables that hold those two passwords.
  - The mongodb role acts on C(login) alone; this module is the one place that decides it.
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
  localhost_exception:
    type: bool
    default: false
    description:
      - When neither password logs in, tell whether mongod has no user yet (C(login=localhost_exception)), and
        fail if it has some. Only for the first user, the administrator; needs I(login_host) on loopback.
requirements: [pymongo >= 4]
"""

RETURN = r"""
login:
  description:
    - C(current) (I(login_password) logs in), C(previous) (only I(previous_password) does), C(localhost_exception)
      (neither, and mongod has no user yet: a loopback connection may create the first one) or C(none) (neither,
      without I(localhost_exception)).
  returned: success
  type: str
authenticated: {description: Whether I(login_password) logs in (C(login=current))., returned: success, type: bool}
"""

CURRENT, PREVIOUS, LOCALHOST_EXCEPTION, NONE = "current", "previous", "localhost_exception", "none"

# mongod's error codes (src/mongo/base/error_codes.yml).
UNAUTHORIZED = 13
AUTHENTICATION_FAILED = 18
NO_REPLICATION_ENABLED = 76
NOT_YET_INITIALIZED = 94


class Refused(Exception):
    """No login works and mongod already has users: what the operator must change."""


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


def which_login(user, logs_in, password, previous_password, localhost_exception, has_no_user):
    """The login that works, trying no more than needed.

    `logs_in(password)` and `has_no_user()` ask mongod. The current password
    wins; the previous one counts only when the current one is refused; the
    localhost exception only when both are, and then only while mongod has no
    user. Raises Refused when it has users and no password logs in.
    """
    if logs_in(password):
        return CURRENT
    if previous_password and logs_in(previous_password):
        return PREVIOUS
    if not localhost_exception:
        return NONE
    if has_no_user():
        return LOCALHOST_EXCEPTION
    raise Refused(refused_message(user, previous_tried=bool(previous_password)))


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


def has_no_user(params) -> bool:
    """Whether mongod lets a loopback connection without a login use the localhost exception.

    That exception lasts until the first user or role exists. Besides creating
    that user it grants replSetGetStatus and replSetConfigure (so that a
    replica set can be initiated first: AuthorizationSession's default
    privileges, https://www.mongodb.com/docs/v8.0/core/localhost-exception/).
    Asked without a login, a standalone mongod with no user answers that it
    runs no replica set; once a user exists it refuses (Unauthorized).
    """
    options = client_options(params)
    for credential in ("username", "password", "authSource"):
        options.pop(credential)
    client = MongoClient(**options)
    try:
        client["admin"].command("replSetGetStatus")
    except OperationFailure as exc:
        if exc.code == UNAUTHORIZED:
            return False
        if exc.code in (NO_REPLICATION_ENABLED, NOT_YET_INITIALIZED):
            return True
        raise
    finally:
        client.close()
    return True


def main():
    module = AnsibleModule(
        argument_spec={
            **LOGIN_ARGUMENT_SPEC,
            "previous_password": {"type": "str", "default": "", "no_log": True},
            "localhost_exception": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"))
    params = module.params
    try:
        login = which_login(
            params["login_user"],
            lambda password: logs_in(params, password),
            params["login_password"],
            params["previous_password"] or "",
            params["localhost_exception"],
            lambda: has_no_user(params),
        )
    except Refused as exc:
        module.fail_json(msg=str(exc))
    except OperationFailure as exc:
        module.fail_json(msg=f"mongod refused the check: {(exc.details or {}).get('errmsg', exc.code)}")
    except Exception as exc:
        module.fail_json(
            msg=f"Cannot reach mongod on {params['login_host']}:{params['login_port']}: {type(exc).__name__}"
        )
    module.exit_json(changed=False, login=login, authenticated=login == CURRENT)


if __name__ == "__main__":
    main()
