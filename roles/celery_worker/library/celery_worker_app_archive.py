#!/usr/bin/python
"""Pack an app folder on the controller for the workers, and say what it holds."""

import fnmatch
import hashlib
import os
import re
import tarfile

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: celery_worker_app_archive
short_description: Pack a Celery app's source tree, with a digest of its contents
description:
  - Walks I(src) (links are not followed), leaves out what matches I(exclude), and writes the rest as
    C(<dest_dir>/app-<digest>.tar.gz), where the digest covers every path, its kind, its execute bit and its
    content: the same tree gives the same name on every run, any change a new one.
  - Leaves out, too, what looks secret - a name that matches I(exclude_secrets), a file (its first MiB) that holds
    one of I(exclude_secrets_containing) - and names it in a warning and in I(secrets_left_out).
  - Members are root's and readable by their group only (0640, 0750 for folders and executables), whatever their
    modes on the controller: unpacked with the service's group, the app is the service's and no one else's.
  - Refuses a symbolic link that points outside the folder (it would reach a file that is not the app's on
    the workers), and an app whose module (I(app), what C(celery --app) takes) is not in the folder.
  - Reports the digest of the files pip reads (the requirements file and those it includes with -r or -c,
    or pyproject.toml, setup.cfg and setup.py when the app is installed as a package): the virtualenv is
    built again only when they change.
  - Runs on the controller; writes nothing in check mode.
options:
  src: {type: path, required: true, description: The app folder.}
  dest_dir: {type: path, required: true, description: Folder the archive is written to.}
  app:
    type: str
    required: true
    description: The Celery app as celery --app takes it (module, or module:attribute).
  requirements:
    type: str
    default: ""
    description: The requirements file, relative to src; empty, the app's own pyproject.toml.
  exclude:
    type: list
    elements: str
    default: []
    description: Glob patterns; one that starts with / matches a path from the folder's root, any other a name.
  exclude_secrets:
    type: list
    elements: str
    default: []
    description: Glob patterns as I(exclude), for secrets; what they leave out is reported.
  exclude_secrets_containing:
    type: list
    elements: str
    default: []
    description: Text that makes a file a secret (a PEM private key's header, rendered settings); reported too.
"""

RETURN = r"""
digest: {description: Digest of the whole tree (12 hex digits)., returned: success, type: str}
requirements_digest:
  description: Digest of what pip reads (12 hex digits); the tree's for a package.
  returned: success
  type: str
requirements_files: {description: The requirements files pip reads, relative to src., returned: success, type: list}
archive: {description: Path of the archive (not written in check mode)., returned: success, type: str}
files: {description: Number of files and links packed., returned: success, type: int}
size: {description: Bytes of the files packed., returned: success, type: int}
secrets_left_out:
  description: The paths (relative to src) left out as secrets; a folder stands for all it holds.
  returned: success
  type: list
"""

INCLUDE = re.compile(r"^\s*(?:-r|--requirement|-c|--constraint)(?:\s+|=)(\S+)")
CELERY = re.compile(r"^\s*celery\s*(\[[^\]]*\])?\s*([<>=!~;@ ]|$)", re.IGNORECASE)
CONSTRAINT = re.compile(r"^\s*(?:-c|--constraint)(?:\s+|=)")
PACKAGE_FILES = ("pyproject.toml", "setup.cfg", "setup.py")
# How much of a file is searched for exclude_secrets_containing: keys and settings are small.
SECRET_SCAN_BYTES = 1 << 20
# In the tree's digest: archives made before members were group-only get a new release name, so
# that a worker unpacks the app again with these modes.
ARCHIVE_FORMAT = b"members root:group 0640/0750\0"


def excluded(relative, patterns):
    """A pattern that starts with / matches the path from the folder's root; any other, each name in it."""
    name = os.path.basename(relative)
    return any(
        fnmatch.fnmatch(relative, pattern[1:]) if pattern.startswith("/") else fnmatch.fnmatch(name, pattern)
        for pattern in patterns
    )


def holds_any(path, texts):
    if not texts or os.path.islink(path):
        return False
    with open(path, "rb") as handle:
        head = handle.read(SECRET_SCAN_BYTES)
    return any(text.encode() in head for text in texts)


def walk(src, patterns, secrets=(), secret_texts=()):
    """The tree's entries as (relative path, kind), sorted, kind "dir", "file" or "link"; and the paths left out
    as secrets (by name, or a file by what it holds), sorted."""
    entries, left_out = [], []
    for top, dirs, files in os.walk(src):
        relative_top = os.path.relpath(top, src)
        kept = []
        for name in sorted(dirs):
            relative = os.path.normpath(os.path.join(relative_top, name))
            if excluded(relative, patterns):
                continue
            if excluded(relative, secrets):
                left_out.append(relative)
            elif os.path.islink(os.path.join(top, name)):
                entries.append((relative, "link"))
            else:
                kept.append(name)
                entries.append((relative, "dir"))
        dirs[:] = kept
        for name in sorted(files):
            relative = os.path.normpath(os.path.join(relative_top, name))
            if excluded(relative, patterns):
                continue
            if excluded(relative, secrets) or holds_any(os.path.join(top, name), secret_texts):
                left_out.append(relative)
            else:
                entries.append((relative, "link" if os.path.islink(os.path.join(top, name)) else "file"))
    return sorted(entries), sorted(left_out)


def link_escapes(src, relative):
    target = os.readlink(os.path.join(src, relative))
    if os.path.isabs(target):
        return True
    resolved = os.path.normpath(os.path.join(os.path.dirname(relative), target))
    return resolved == ".." or resolved.startswith(".." + os.sep)


def digest(src, entries, salt=b""):
    hashed = hashlib.sha256(salt)
    for relative, kind in entries:
        path = os.path.join(src, relative)
        hashed.update(f"{kind}\0{relative}\0".encode())
        if kind == "link":
            hashed.update(os.readlink(path).encode())
        elif kind == "file":
            hashed.update(b"x" if os.stat(path).st_mode & 0o111 else b"-")
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    hashed.update(block)
        hashed.update(b"\0")
    return hashed.hexdigest()[:12]


def requirement_files(src, requirements, files):
    """The requirements files pip reads, relative to src: the one named and those it includes, in order;
    and whether any of them (constraints files aside) asks for Celery.

    Raises ValueError naming an included file that is not in the packed tree."""
    found, pending, names_celery = [], [(os.path.normpath(requirements), False)], False
    while pending:
        relative, constraints = pending.pop(0)
        if relative in found:
            continue
        if relative not in files:
            raise ValueError(relative)
        found.append(relative)
        with open(os.path.join(src, relative), encoding="utf-8") as handle:
            for line in handle:
                match = INCLUDE.match(line)
                if match:
                    included = os.path.normpath(os.path.join(os.path.dirname(relative), match.group(1)))
                    pending.append((included, constraints or bool(CONSTRAINT.match(line))))
                elif not constraints and CELERY.match(line):
                    names_celery = True
    return found, names_celery


def package_names_celery(src):
    """Whether the app's pyproject.toml lists Celery among its dependencies (True when it cannot be read)."""
    try:
        import tomllib
    except ImportError:  # Python before 3.11: pip will tell
        return True
    path = os.path.join(src, "pyproject.toml")
    if not os.path.isfile(path):
        return True
    with open(path, "rb") as handle:
        dependencies = tomllib.load(handle).get("project", {}).get("dependencies", [])
    return any(CELERY.match(dependency) for dependency in dependencies)


def module_paths(app):
    """Where the module of `app` ("pkg.mod" or "pkg.mod:attr") would be, relative to the app folder."""
    module = app.split(":", 1)[0]
    base = os.path.join(*module.split("."))
    return [base + ".py", os.path.join(base, "__init__.py")]


def fail_on_tree(module, src, entries, files):
    params = module.params
    escaping = [relative for relative, kind in entries if kind == "link" and link_escapes(src, relative)]
    if escaping:
        module.fail_json(
            msg=f"celery_worker_app_source ({src}) has links that point outside it: {', '.join(escaping)}. "
            "Only the app folder goes to the workers: copy those files into it, or exclude them "
            "(celery_worker_app_exclude)."
        )
    if not any(path in files for path in module_paths(params["app"])):
        tops = sorted({relative.split(os.sep)[0].removesuffix(".py") for relative in files if relative.endswith(".py")})
        module.fail_json(
            msg=f"celery_worker_app is {params['app']}, but celery_worker_app_source ({src}) holds neither "
            f"{' nor '.join(module_paths(params['app']))}. Set celery_worker_app to the module that makes your "
            f"Celery app (what `celery --app` takes; modules found there: {', '.join(tops) or 'none'})."
        )
    if params["requirements"] and os.path.normpath(params["requirements"]) not in files:
        module.fail_json(
            msg=f"celery_worker_requirements is {params['requirements']}, which is not a file in "
            f"celery_worker_app_source ({src}). Name the app's requirements file (relative to that folder), "
            "or set it to an empty string to install the app's own pyproject.toml."
        )
    if not params["requirements"] and not any(name in files for name in PACKAGE_FILES):
        module.fail_json(
            msg=f"celery_worker_requirements is empty, so the app is installed as a package, but "
            f"celery_worker_app_source ({src}) has no pyproject.toml, setup.cfg or setup.py."
        )


def pack(src, entries, archive):
    partial = archive + ".partial"
    with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
        for relative, kind in entries:
            info = tar.gettarinfo(os.path.join(src, relative), arcname=relative)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            # git keeps only the execute bit, so the other bits of a checkout say nothing of intent: the
            # service's group reads the app (the unpack sets the group), and other users nothing of it.
            if kind == "file":
                info.mode = 0o750 if info.mode & 0o111 else 0o640
                with open(os.path.join(src, relative), "rb") as handle:
                    tar.addfile(info, handle)
            else:
                info.mode = 0o750 if kind == "dir" else info.mode
                tar.addfile(info)
    os.replace(partial, archive)


def main():
    module = AnsibleModule(
        argument_spec={
            "src": {"type": "path", "required": True},
            "dest_dir": {"type": "path", "required": True},
            "app": {"type": "str", "required": True},
            "requirements": {"type": "str", "default": ""},
            "exclude": {"type": "list", "elements": "str", "default": []},
            "exclude_secrets": {"type": "list", "elements": "str", "default": []},
            "exclude_secrets_containing": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    params = module.params
    src = params["src"]
    if not os.path.isdir(src):
        module.fail_json(msg=f"celery_worker_app_source ({src}) is not a folder on the controller.")
    entries, left_out = walk(src, params["exclude"], params["exclude_secrets"], params["exclude_secrets_containing"])
    files = {relative for relative, kind in entries if kind == "file"}
    fail_on_tree(module, src, entries, files)
    if left_out:
        module.warn(
            "Left out of the app's archive as secrets (celery_worker_app_exclude_secrets, "
            f"celery_worker_app_exclude_secrets_containing): {', '.join(left_out)} in celery_worker_app_source "
            f"({src}). The workers have Celery settings of their own; an app that needs a secret reads it from "
            "its environment (celery_worker_environment, from the vault)."
        )
    tree = digest(src, entries, ARCHIVE_FORMAT)
    if params["requirements"]:
        try:
            pip_reads, names_celery = requirement_files(src, params["requirements"], files)
        except ValueError as missing:
            module.fail_json(
                msg=f"{params['requirements']} includes {missing}, which is not in celery_worker_app_source ({src}) "
                "or is excluded: only the app folder goes to the builder. Move it into the folder."
            )
        requirements = digest(src, [(relative, "file") for relative in pip_reads])
    else:
        # The app is installed into the virtualenv as a package: every change is a new virtualenv.
        pip_reads = [name for name in PACKAGE_FILES if name in files]
        requirements = tree
        names_celery = package_names_celery(src)
    if not names_celery:
        module.fail_json(
            msg=f"The app's requirements ({', '.join(pip_reads)} in celery_worker_app_source, {src}) do not ask "
            "for Celery: add celery (e.g. celery[mongodb]==5.6.3) to them."
        )
    archive = os.path.join(params["dest_dir"], f"app-{tree}.tar.gz")
    if not module.check_mode and not os.path.exists(archive):
        os.makedirs(params["dest_dir"], mode=0o700, exist_ok=True)
        pack(src, entries, archive)
    packed = [relative for relative, kind in entries if kind != "dir"]
    size = sum(os.lstat(os.path.join(src, relative)).st_size for relative in packed)
    module.exit_json(
        changed=False,
        digest=tree,
        requirements_digest=requirements,
        requirements_files=pip_reads,
        archive=archive,
        files=len(packed),
        size=size,
        secrets_left_out=left_out,
    )


if __name__ == "__main__":
    main()
