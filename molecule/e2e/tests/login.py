"""Run on the operator's machine with the app's virtualenv (kombu): try broker logins over AMQPS.

Each attempt is {"user", "password"}; the result is {"ok": True} or the kind of refusal.
"""

import ssl

import kombu


def one(args: dict, attempt: dict) -> dict:
    connection = kombu.Connection(
        hostname=args["host"],
        port=5671,
        userid=attempt["user"],
        password=attempt["password"],
        virtual_host=args["vhost"],
        ssl={"ca_certs": args["ca"], "cert_reqs": ssl.CERT_REQUIRED, "server_hostname": args["host"]},
        connect_timeout=10,
    )
    try:
        connection.ensure_connection(max_retries=1)
        return {"ok": True}
    except Exception as error:  # the kind of refusal is the result
        return {"ok": False, "error": type(error).__name__, "detail": repr(error)[:300]}
    finally:
        connection.release()


def main(args: dict) -> dict:
    return {name: one(args, attempt) for name, attempt in args["attempts"].items()}
