"""Run on a client: a TLS handshake with each protocol version, verifying the server against a CA."""

import socket
import ssl

VERSIONS = {
    "1.0": ssl.TLSVersion.TLSv1,
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def main(args: dict) -> dict:
    out = {}
    for name, version in VERSIONS.items():
        ctx = ssl.create_default_context(cafile=args["ca"])
        ctx.minimum_version = ctx.maximum_version = version
        if version < ssl.TLSVersion.TLSv1_2:
            # Let the client offer the old versions, so that the server is the one refusing.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        try:
            with socket.create_connection((args["host"], args["port"]), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname=args["host"]) as tls:
                    out[name] = {"ok": True, "version": tls.version(), "cipher": tls.cipher()[0]}
        except ssl.SSLError as error:
            out[name] = {"ok": False, "reason": error.reason, "error": str(error)}
    return out
