"""Run on a client with pymongo: what a hub's mongod allows, as one word per attempt.

args: {"host", "ca", "user", "password", "database"}. Each outcome is "ok",
"unauthorized" (code 13), "auth_failed" (code 18), another "code_<n>", or
the name of the driver's error (a TLS or connection failure).
"""

from pymongo import MongoClient
from pymongo.errors import OperationFailure, PyMongoError

TTL_INDEX = "celery_fleet_results_ttl"


def outcome(action) -> str:
    try:
        action()
        return "ok"
    except OperationFailure as exc:
        return {13: "unauthorized", 18: "auth_failed"}.get(exc.code, f"code_{exc.code}")
    except PyMongoError as exc:
        return type(exc).__name__


def main(args: dict) -> dict:
    def client(tls=True, **auth):
        options = dict(host=args["host"], port=27017, serverSelectionTimeoutMS=5000, directConnection=True)
        if tls:
            options.update(tls=True, tlsCAFile=args["ca"])
        return MongoClient(**options, **auth)

    database = args["database"]
    app = dict(username=args["user"], password=args["password"], authSource=database, authMechanism="SCRAM-SHA-256")
    wrong = dict(app, password="not-" + args["password"])
    celery = client(**app)
    results = {
        "tls_ping": outcome(lambda: client().admin.command("ping")),
        "plaintext_ping": outcome(lambda: client(tls=False).admin.command("ping")),
        "anonymous_list_databases": outcome(lambda: client().admin.command("listDatabases")),
        "app_insert": outcome(lambda: celery[database].verify.insert_one({"_id": "verify", "n": 1})),
        "app_find": outcome(lambda: celery[database].verify.find_one({"_id": "verify"})["n"]),
        "app_read_reporting": outcome(celery.reporting.any.find_one),
        "app_write_reporting": outcome(lambda: celery.reporting.any.insert_one({"n": 1})),
        "app_write_other": outcome(lambda: celery.other.any.insert_one({"n": 1})),
        "wrong_password": outcome(lambda: client(**wrong)[database].command("ping")),
    }
    results["ttl"] = [
        index.get("expireAfterSeconds")
        for index in celery[database].celery_taskmeta.list_indexes()
        if index["name"] == TTL_INDEX
    ]
    celery[database].verify.delete_one({"_id": "verify"})
    return results
