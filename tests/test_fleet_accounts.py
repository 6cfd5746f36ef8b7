"""The workers' accounts (roles/fleet/lookup_plugins/fleet_worker_accounts.py), read from a secrets folder."""

import importlib.util
import stat
from pathlib import Path

import pytest
from ansible.errors import AnsibleLookupError

PLUGIN = Path(__file__).resolve().parent.parent / "roles/fleet/lookup_plugins/fleet_worker_accounts.py"
spec = importlib.util.spec_from_file_location("fleet_worker_accounts", PLUGIN)
lookup = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lookup)


def test_a_first_account_is_made_once_readable_by_its_owner_only(tmp_path):
    secrets = tmp_path / "credentials"
    (first,) = lookup.accounts(["w1"], str(secrets), mongodb=True)
    assert (first["broker_user"], first["mongodb_user"], first["generation"]) == ("worker-w1", "worker-w1", 1)
    assert len(first["broker_password"]) == 32 and first["broker_password"] != first["mongodb_password"]
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert stat.S_IMODE((secrets / "broker-w1").stat().st_mode) == 0o600
    # Read again, not made again.
    assert lookup.accounts(["w1"], str(secrets), mongodb=True) == [first]


def test_the_vault_wins_and_no_mongodb_means_no_mongodb_password(tmp_path):
    (account,) = lookup.accounts(["w1"], str(tmp_path), broker_passwords={"w1": "from-the-vault"})
    assert (account["broker_password"], account["mongodb_password"]) == ("from-the-vault", "")
    assert list(tmp_path.iterdir()) == []


def test_a_rotating_host_gets_its_next_account_beside_the_current_one(tmp_path):
    (current,) = lookup.accounts(["w1.example.org"], str(tmp_path))
    (following,) = lookup.accounts(["w1.example.org"], str(tmp_path), rotating=["w1.example.org"])
    assert following["broker_user"] == "worker-w1.example.org~2"
    assert following["broker_password"] != current["broker_password"]
    assert (tmp_path / "broker-w1.example.org.next").read_text().strip() == following["broker_password"]
    # Until promoted (the files renamed, the generation written), the current account is unchanged.
    assert lookup.accounts(["w1.example.org"], str(tmp_path)) == [current]
    (tmp_path / "broker-w1.example.org.next").rename(tmp_path / "broker-w1.example.org")
    (tmp_path / "generation-w1.example.org").write_text("2\n")
    assert lookup.accounts(["w1.example.org"], str(tmp_path)) == [following]


def test_a_damaged_generation_file_is_an_error_naming_it(tmp_path):
    (tmp_path / "generation-w1").write_text("two\n")
    with pytest.raises(AnsibleLookupError, match="generation-w1 must hold a whole number"):
        lookup.accounts(["w1"], str(tmp_path))


_filters = importlib.util.spec_from_file_location(
    "fleet_accounts", PLUGIN.parent.parent / "filter_plugins" / "fleet_accounts.py"
)
filters = importlib.util.module_from_spec(_filters)
_filters.loader.exec_module(filters)


def test_each_service_sees_the_accounts_as_its_users():
    accounts = lookup.accounts(
        ["w1"], "/nonexistent", broker_passwords={"w1": "b"}, mongodb_passwords={"w1": "m"}, mongodb=True
    )
    assert filters.fleet_logins(accounts, "broker") == [{"name": "worker-w1", "password": "b"}]
    assert filters.fleet_logins(accounts, "mongodb") == [{"name": "worker-w1", "password": "m"}]


def test_a_restore_brings_back_missing_passwords_but_never_a_revoked_workers():
    backed_up = ["broker-w1", "broker-w2", "generation-w2", "broker-w3", "mongodb-w3.next", "revoked-w4", "notes.txt"]
    # w1's password is on the controller (in use); w3 was revoked since the backup.
    chosen = filters.fleet_restorable_secrets(backed_up, ["broker-w1", "revoked-w3"], ["w3"])
    assert chosen == ["broker-w2", "generation-w2", "revoked-w4"]


def test_a_revocation_in_the_backup_is_undone_only_by_a_later_add_worker():
    # w4 was revoked when the backup was made: a controller that lost its folder gets the revocation back.
    assert filters.fleet_restorable_secrets(["revoked-w4", "broker-w4"], [], []) == ["revoked-w4"]
    # add-worker.yml let it back in since (it has a password again): the old revocation stays out.
    assert filters.fleet_restorable_secrets(["revoked-w4"], ["broker-w4"], []) == []


def test_promoting_a_rotation_renames_the_next_passwords_and_counts_it(tmp_path):
    spec = importlib.util.spec_from_file_location("promote", PLUGIN.parent.parent / "library/fleet_promote_account.py")
    promote = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(promote)
    (current,) = lookup.accounts(["w1"], str(tmp_path), mongodb=True)
    (following,) = lookup.accounts(["w1"], str(tmp_path), mongodb=True, rotating=["w1"])
    assert promote.promote(str(tmp_path), "w1", check=True) == 2
    assert lookup.accounts(["w1"], str(tmp_path), mongodb=True) == [current]
    assert promote.promote(str(tmp_path), "w1") == 2
    assert lookup.accounts(["w1"], str(tmp_path), mongodb=True) == [following]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["broker-w1", "generation-w1", "mongodb-w1"]
