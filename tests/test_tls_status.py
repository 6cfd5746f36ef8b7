"""The tls part of the status report (roles/tls/tasks/status.yml): the certificates and the last ACME renewal
as the fleet_status_tls contract holds them."""

from role_code import load

tls = load("roles/tls/filter_plugins/tls_status.py")

CERT = "/etc/celery-fleet/tls/cert.pem"
CA = "/home/operator/.config/celery-fleet/ca/ca.pem"
SLURPED = {"content": "LS0tLS1CRUdJTi...", "encoding": "base64", "source": CERT, "changed": False}
INFO = {"not_after": "20270301120000Z", "not_before": "20261201120000Z", "expired": False, "changed": False}


def test_a_readable_certificate_has_its_end_date_and_no_error():
    assert tls.tls_certificate_status(INFO, "server certificate", "hub", CERT, SLURPED) == {
        "name": "server certificate",
        "host": "hub",
        "path": CERT,
        "not_after": "20270301120000Z",
        "error": "",
    }


def test_a_certificate_that_could_not_be_read_has_slurps_error():
    missing = {"failed": True, "msg": "file not found: /etc/celery-fleet/tls/cert.pem", "changed": False}
    # x509_certificate_info was skipped (when: content is defined).
    skipped = {"skipped": True, "changed": False, "skip_reason": "Conditional result was False"}
    status = tls.tls_certificate_status(skipped, "server certificate", "hub", CERT, missing)
    assert (status["not_after"], status["error"]) == ("", "file not found: /etc/celery-fleet/tls/cert.pem")


def test_a_certificate_that_does_not_parse_has_the_info_modules_error():
    unparsable = {"failed": True, "msg": "Unable to load certificate: ...", "changed": False}
    status = tls.tls_certificate_status(unparsable, "server certificate", "hub", CERT, SLURPED)
    assert (status["not_after"], status["error"]) == ("", "Unable to load certificate: ...")


def test_the_private_ca_read_in_place_has_the_info_modules_end_date_or_error():
    assert tls.tls_certificate_status(INFO, "private CA", "controller", CA) == {
        "name": "private CA",
        "host": "controller",
        "path": CA,
        "not_after": "20270301120000Z",
        "error": "",
    }
    failed = {"failed": True, "msg": f"The file {CA} does not exist"}
    status = tls.tls_certificate_status(failed, "private CA", "controller", CA)
    assert (status["not_after"], status["error"]) == ("", f"The file {CA} does not exist")


UNIT = "celery-fleet-acme-renew.service"


def test_the_last_renewal_is_systemds_words_for_its_unit():
    result = {
        "name": UNIT,
        "changed": False,
        "status": {
            "LoadState": "loaded",
            "Result": "exit-code",
            "ExecMainStatus": "1",
            "ExecMainExitTimestamp": "Tue 2026-12-01 03:12:40 UTC",
            "ActiveState": "failed",
        },
    }
    assert tls.tls_renewal_status(result, UNIT) == {
        "name": UNIT,
        "load_state": "loaded",
        "result": "exit-code",
        "exit_status": "1",
        "exit_timestamp": "Tue 2026-12-01 03:12:40 UTC",
    }


def test_a_renewal_unit_systemd_could_not_be_asked_about_is_unknown():
    assert tls.tls_renewal_status({"failed": True, "msg": "Service is in unknown state"}, UNIT) == {
        "name": UNIT,
        "load_state": "unknown",
        "result": "",
        "exit_status": "",
        "exit_timestamp": "",
    }
