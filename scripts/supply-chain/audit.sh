#!/bin/sh
# `make audit`: the dependency tree against the RustSec advisory database. The database is a
# git repository on GitHub; where it cannot be fetched (CI reaches the package registries
# only) this says so and exits 0 instead of failing for a reason that is not an advisory.
set -u
deny="$1"
output=$("$deny" check advisories 2>&1)
status=$?
if [ $status -ne 0 ] && printf '%s' "$output" | grep -q 'failed to fetch advisory database'; then
  echo "make audit: SKIPPED: the RustSec advisory database (github.com/RustSec/advisory-db) could not be fetched from this machine; run 'make audit' where GitHub is reachable." >&2
  exit 0
fi
printf '%s\n' "$output"
exit $status
