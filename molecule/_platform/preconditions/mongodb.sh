#!/usr/bin/env bash
# The mongodb scenario installs mongod from MongoDB's apt repository, which
# some machines cannot reach (MongoDB publishes no mongod anywhere else).
# One HEAD request to the repository the role uses, with a short timeout:
# when it gets no answer, the scenario is reported as not run.
url=${MONGODB_REPOSITORY_PROBE_URL:-https://repo.mongodb.org/apt/debian/dists/bookworm/mongodb-org/8.0/Release}
if ! command -v curl >/dev/null; then
  echo "curl is not installed (needed to probe the MongoDB package repository)"
  exit 1
fi
if ! curl --silent --show-error --head --fail --max-time 5 --output /dev/null "$url" 2>/dev/null; then
  echo "MongoDB package repository unreachable"
  exit 1
fi
