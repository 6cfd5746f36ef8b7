#!/bin/sh
# Builds a worker's virtualenv (tasks/venv.yml runs it with ansible.builtin.script, as root):
#   celery_worker_venv_build.sh [pip's extra arguments, celery_worker_pip_extra_args]
# Environment: VENV (the new folder), PYTHON, RELEASE (the app's new release), REQUIREMENTS (a file in
# it; empty: the app itself, from its pyproject.toml), ID, MARKER (the file in VENV that says the build is
# complete) and ARCHIVE (where to pack it for the other hosts of its platform; empty: no archive).
#
# One script, so that the marker (which unpacking hosts look for) is written only after pip succeeded; a
# failed build removes its folder, and one left by an interrupted run is removed first. pip and setuptools
# are removed at the end: the workers never run them, and every host gets exactly the files of the
# requirements.
set -eu
rm -rf "$VENV"
trap 'rm -rf "$VENV"' EXIT
"$PYTHON" -m venv "$VENV"
cd "$RELEASE"
if [ -n "$REQUIREMENTS" ]; then set -- "$@" -r "$REQUIREMENTS"; else set -- "$@" "$RELEASE"; fi
"$VENV/bin/pip" install --disable-pip-version-check --no-input --no-warn-script-location "$@"
"$VENV/bin/pip" uninstall --disable-pip-version-check --yes --quiet pip setuptools
printf '%s\n' "$ID" > "$VENV/$MARKER"
if [ -n "$ARCHIVE" ]; then
  # GNU tar and gzip -1: a second or two.
  tar --create --use-compress-program 'gzip -1' --file "$ARCHIVE" \
    --directory "$(dirname "$VENV")" "$(basename "$VENV")"
fi
trap - EXIT
