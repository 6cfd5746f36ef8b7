#!/bin/sh
# The acme scenario needs acme.sh, which cannot be downloaded here: a copy
# named by CELERY_FLEET_ACMESH_SOURCE (release .tar.gz, or a folder with acme.sh).
src=${CELERY_FLEET_ACMESH_SOURCE:-}
if [ -z "$src" ]; then
  echo "acme.sh source not provided (set CELERY_FLEET_ACMESH_SOURCE)"; exit 1
fi
if [ ! -f "$src/acme.sh" ] && ! tar -tzf "$src" 2>/dev/null | grep -q '/acme.sh$'; then
  echo "acme.sh source not provided ($src holds no acme.sh)"; exit 1
fi
