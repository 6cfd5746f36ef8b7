#!/usr/bin/python
"""Keep a TTL index on one date field of a collection, at a given lifetime."""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.celery_fleet_mongodb import LOGIN_ARGUMENT_SPEC, client_options

try:
    from pymongo import DESCENDING, MongoClient

    HAS_PYMONGO = True
except ImportError:  # pragma: no cover
    HAS_PYMONGO = False

DOCUMENTATION = r"""
module: mongodb_ttl_index
short_description: Ensure a TTL index with a given expireAfterSeconds
description:
  - Creates the named TTL index on I(field) (descending, so that it never
    collides with an ascending index an application makes on the same field),
    changes its lifetime in place with C(collMod) when it differs, or drops
    it when I(expire_after_seconds) is 0.
  - community.mongodb.mongodb_index compares indexes by name only and cannot
    change a lifetime; this module does.
options:
  database: {type: str, required: true, description: Database.}
  collection: {type: str, required: true, description: Collection.}
  field: {type: str, required: true, description: Field holding a BSON date.}
  name: {type: str, required: true, description: Name of the index.}
  expire_after_seconds: {type: int, required: true, description: Lifetime; 0 drops the index.}
  login_host: {type: str, default: 127.0.0.1, description: Host.}
  login_port: {type: int, default: 27017, description: Port.}
  login_user: {type: str, required: true, description: User allowed to manage indexes.}
  login_password: {type: str, required: true, no_log: true, description: Its password.}
  login_database: {type: str, default: admin, description: Its authentication database.}
  tls_ca_file: {type: path, description: CA certificate; empty for no TLS.}
  tls_allow_invalid_hostnames: {type: bool, default: false, description: Skip the host name check (loopback only).}
requirements: [pymongo >= 4]
"""

RETURN = r"""
action: {description: created, updated, dropped or none., returned: success, type: str}
"""


def ensure(module, client):
    params = module.params
    database = client[params["database"]]
    collection = database[params["collection"]]
    seconds = params["expire_after_seconds"]
    current = {index["name"]: index for index in collection.list_indexes()}.get(params["name"])
    if seconds == 0:
        if current is None:
            return "none"
        if not module.check_mode:
            collection.drop_index(params["name"])
        return "dropped"
    if current is None:
        if not module.check_mode:
            collection.create_index([(params["field"], DESCENDING)], name=params["name"], expireAfterSeconds=seconds)
        return "created"
    if current.get("expireAfterSeconds") == seconds:
        return "none"
    if not module.check_mode:
        database.command(
            "collMod",
            params["collection"],
            index={"name": params["name"], "expireAfterSeconds": seconds},
        )
    return "updated"


def main():
    module = AnsibleModule(
        argument_spec={
            **LOGIN_ARGUMENT_SPEC,
            "database": {"type": "str", "required": True},
            "collection": {"type": "str", "required": True},
            "field": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "expire_after_seconds": {"type": "int", "required": True},
        },
        supports_check_mode=True,
    )
    if not HAS_PYMONGO:
        module.fail_json(msg=missing_required_lib("pymongo"))
    if module.params["expire_after_seconds"] < 0:
        module.fail_json(msg="expire_after_seconds must be 0 (no TTL) or more")
    params = module.params
    client = MongoClient(**client_options(params))
    try:
        action = ensure(module, client)
    except Exception as exc:
        module.fail_json(msg=f"Cannot manage the TTL index {params['name']}: {exc}")
    finally:
        client.close()
    module.exit_json(changed=action != "none", action=action)


if __name__ == "__main__":
    main()
