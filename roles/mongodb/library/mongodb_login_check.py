#!/usr/bin/python
"""Tell whether a MongoDB user can log in with a password (nothing changed)."""

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
short_description: Check whether a user can log in to mongod with a password
description:
  - Connects with SCRAM-SHA-256 and runs C(connectionStatus). Reports
    C(authenticated) true or false; changes nothing. Any other error (mongod
    down, TLS refused) fails the task.
  - Used by the mongodb role to decide whether a password must be set, so
    that a run with unchanged passwords reports no change.
  - community.mongodb's user module sets a password always or only on
    creation (C(update_password)) and cannot tell whether the current one
    still works; its info module needs a login that already works.
options:
  login_host: {type: str, default: 127.0.0.1, description: Host to connect to.}
  login_port: {type: int, default: 27017, description: Port.}
  login_user: {type: str, required: true, description: User name.}
  login_password: {type: str, required: true, no_log: true, description: Password to try.}
  login_database: {type: str, default: admin, description: The user's authentication database.}
  tls_ca_file: {type: path, description: CA certificate to verify the server with; empty for no TLS.}
  tls_allow_invalid_hostnames: {type: bool, default: false, description: Skip the host name check (loopback only).}
requirements: [pymongo >= 4]
"""

RETURN = r"""
authenticated: {description: Whether the login succeeded., returned: success, type: bool}
"""


AUTHENTICATION_FAILED = 18


def main():
    module = AnsibleModule(
        argument_spec=LOGIN_ARGUMENT_SPEC,
        supports_check_mode=True,
    )
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"))
    params = module.params
    client = MongoClient(**client_options(params, mechanism="SCRAM-SHA-256"))
    try:
        client[params["login_database"]].command("connectionStatus")
    except OperationFailure as exc:
        if exc.code == AUTHENTICATION_FAILED:
            module.exit_json(changed=False, authenticated=False)
        module.fail_json(msg=f"mongod refused the check: {exc.details.get('errmsg', exc.code)}")
    except Exception as exc:
        module.fail_json(
            msg=f"Cannot reach mongod on {params['login_host']}:{params['login_port']}: {type(exc).__name__}"
        )
    finally:
        client.close()
    module.exit_json(changed=False, authenticated=True)


if __name__ == "__main__":
    main()
