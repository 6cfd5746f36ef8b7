"""The tls part of the fleet's status (tasks/status.yml): the certificates' end dates and the last ACME renewal,
as plain data in the shape of the fleet_status_tls contract (roles/fleet/README.md)."""


def tls_certificate_status(info: dict, name: str, host: str, path: str, read: dict | None = None) -> dict:
    """One certificate: name, host it lives on, path, not_after (x509_certificate_info's) and error.

    info is x509_certificate_info's result; read, when the file was slurped first, slurp's result: the error is
    slurp's when the file could not be read (info was then skipped), else info's.
    """
    failed = read if read is not None and "content" not in read else info
    return {
        "name": name,
        "host": host,
        "path": path,
        "not_after": info.get("not_after", ""),
        "error": failed.get("msg", ""),
    }


def tls_renewal_status(result: dict, name: str) -> dict:
    """The ACME renewal unit's last run, from systemd_service's result for the unit name: name, load_state, result,
    exit_status and exit_timestamp (systemd's words, "" when unknown)."""
    # A unit systemd could not be asked about has no status at all.
    status = result.get("status") or {}
    return {
        "name": name,
        "load_state": status.get("LoadState", "unknown"),
        "result": status.get("Result", ""),
        "exit_status": status.get("ExecMainStatus", ""),
        "exit_timestamp": status.get("ExecMainExitTimestamp", ""),
    }


class FilterModule:
    def filters(self):
        return {"tls_certificate_status": tls_certificate_status, "tls_renewal_status": tls_renewal_status}
