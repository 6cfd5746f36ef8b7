"""The MongoDB repository line and key of every supported release and series, from the mongodb role's own
variables, against MongoDB's install pages:

  https://www.mongodb.com/docs/v8.0/tutorial/install-mongodb-on-debian/
  https://www.mongodb.com/docs/v8.0/tutorial/install-mongodb-on-ubuntu/
  https://www.mongodb.com/docs/v7.0/tutorial/install-mongodb-on-debian/
  https://www.mongodb.com/docs/v7.0/tutorial/install-mongodb-on-ubuntu/

(The pages store the key as /usr/share/keyrings/mongodb-server-X.gpg after
gpg --dearmor; the role keeps the armoured .asc, which apt reads as is.)
"""

import json
from pathlib import Path

import pytest
from ansible_run import ansible_playbook

ROOT = Path(__file__).resolve().parent.parent
ROLE = ROOT / "roles" / "mongodb"

PLAYBOOK = """
- name: What the mongodb role's variables give
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{{{ ansible_playbook_python }}}}"
  vars_files:
    - {role}/defaults/main.yml
    - {role}/vars/main.yml
    - {role}/vars/{platform}.yml
  tasks:
    - name: Write them
      ansible.builtin.copy:
        content: >-
          {{{{ {{'platform': mongodb_platform,
                 'published': mongodb_platform in mongodb_releases[mongodb_version].platforms,
                 'all_platforms': mongodb_releases.values() | map(attribute='platforms') | flatten,
                 'repository': mongodb_apt_repository if mongodb_platform else '',
                 'key': mongodb_apt_key_source if mongodb_platform else ''}} | to_json }}}}
        dest: {out}
        mode: "0600"
"""


def role_values(tmp_path: Path, platform: str, *extra: str) -> dict:
    out = tmp_path / "values.json"
    (tmp_path / "play.yml").write_text(PLAYBOOK.format(role=ROLE, platform=platform, out=out))
    result = ansible_playbook("-i", "localhost,", str(tmp_path / "play.yml"), *extra)
    assert result.returncode == 0, result.stdout[-3000:]
    return json.loads(out.read_text())


UBUNTU = "deb [ arch=amd64,arm64 signed-by=KEY ] https://repo.mongodb.org/apt/ubuntu "


@pytest.mark.parametrize(
    ("platform", "version", "line"),
    [
        ("debian-12", "8.0", "deb [ signed-by=KEY ] https://repo.mongodb.org/apt/debian bookworm/mongodb-org/8.0 main"),
        ("debian-12", "7.0", "deb [ signed-by=KEY ] https://repo.mongodb.org/apt/debian bookworm/mongodb-org/7.0 main"),
        (
            "ubuntu-22.04",
            "8.0",
            UBUNTU + "jammy/mongodb-org/8.0 multiverse",
        ),
        (
            "ubuntu-22.04",
            "7.0",
            UBUNTU + "jammy/mongodb-org/7.0 multiverse",
        ),
        (
            "ubuntu-24.04",
            "8.0",
            UBUNTU + "noble/mongodb-org/8.0 multiverse",
        ),
    ],
)
def test_the_line_and_key_are_the_install_pages(tmp_path, platform, version, line):
    values = role_values(tmp_path, platform, "-e", f"mongodb_version={version}")
    assert values["published"]
    assert values["repository"] == line.replace("KEY", f"/etc/apt/keyrings/mongodb-server-{version}.asc")
    assert values["key"] == f"https://pgp.mongodb.com/server-{version}.asc"


def test_releases_mongodb_publishes_nothing_for_are_refused(tmp_path):
    assert not role_values(tmp_path, "ubuntu-24.04", "-e", "mongodb_version=7.0")["published"]
    other = role_values(tmp_path, "default")
    assert other["platform"] == ""
    assert "debian-13" not in other["all_platforms"]


def test_an_internal_mirror_replaces_mongodbs_repository_and_key(tmp_path):
    values = role_values(
        tmp_path,
        "debian-12",
        "-e",
        "mongodb_apt_mirror_url=https://mirror.example.internal/mongodb/apt/debian/",
        "-e",
        "mongodb_apt_key_url=https://mirror.example.internal/mongodb/key.asc",
    )
    assert values["repository"] == (
        "deb [ signed-by=/etc/apt/keyrings/mongodb-server-8.0.asc ] "
        "https://mirror.example.internal/mongodb/apt/debian bookworm/mongodb-org/8.0 main"
    )
    assert values["key"] == "https://mirror.example.internal/mongodb/key.asc"
