#!/usr/bin/env bash
# What the test suite needs from the machine, on Debian: installs the missing packages and
# starts PostgreSQL. `make test` runs it first (and `.ci/run` only runs `make test`); `make run`
# needs none of it. Idempotent: when everything is there it checks and exits in well under a
# second, without apt or root.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

missing=()
have make || missing+=(make)
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# The deploy test reads `docker-compose config` with the system Python (tests/test_deploy_*).
/usr/bin/python3 -c 'import yaml' >/dev/null 2>&1 || missing+=(python3-yaml)
have openssl || missing+=(openssl)
have node || missing+=(nodejs)
have npm || missing+=(npm)
[ -x /usr/bin/chromium ] || missing+=(chromium)
have redis-server || missing+=(redis-server)
{ have pg_ctlcluster && have pg_isready && have psql; } || missing+=(postgresql)
have nginx || missing+=(nginx-light)
have docker-compose || { have docker && docker compose version >/dev/null 2>&1; } \
    || missing+=(docker-compose)

if [ "${#missing[@]}" -gt 0 ]; then
    if ! have apt-get; then
        echo "setup-system: missing ${missing[*]}; install them (this script knows only apt)" >&2
        exit 1
    fi
    echo "setup-system: installing ${missing[*]}"
    # Another apt run (a CI job on the same machine) may hold the lock: wait for it.
    apt=(apt-get -qq -o DPkg::Lock::Timeout=600)
    $SUDO "${apt[@]}" update
    $SUDO env DEBIAN_FRONTEND=noninteractive "${apt[@]}" install -y "${missing[@]}" >/dev/null
fi

# PostgreSQL: the tests create and drop their own uniquely named databases on 127.0.0.1:5432
# as the postgres user.
pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q; }
pg_login() { psql -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; }
# "VERSION NAME" of the Debian cluster on port 5432, if there is one.
cluster() { pg_lsclusters -h | awk '$3 == 5432 {print $1, $2; exit}'; }
fail() { echo "setup-system: $*" >&2; exit 1; }

if ! pg_ready; then
    read -r version name <<<"$(cluster)" || true
    if [ -z "${version:-}" ]; then
        # Installed without a cluster (or it was dropped): make the usual one.
        version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
        name=main
        $SUDO pg_createcluster --port 5432 "$version" "$name" >/dev/null
    fi
    echo "setup-system: starting PostgreSQL $version/$name"
    # No systemd in containers and CI: start the cluster directly (pg_ctl waits until it is up).
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
    for _ in $(seq 1 50); do pg_ready && break; sleep 0.2; done
    pg_ready || fail "PostgreSQL does not answer on 127.0.0.1:5432"
fi

if ! pg_login; then
    # A fresh Debian cluster asks for a password over TCP; let the postgres user in on
    # loopback without one. Test machines only: never do this on a server.
    read -r version name <<<"$(cluster)" || true
    [ -n "${version:-}" ] || fail "a PostgreSQL on 127.0.0.1:5432 that is no Debian cluster" \
        "refuses the postgres user; let it in without a password on loopback"
    hba="/etc/postgresql/$version/$name/pg_hba.conf"
    rule="host all postgres 127.0.0.1/32 trust"
    echo "setup-system: trusting the postgres user on 127.0.0.1 ($hba)"
    $SUDO grep -qxF "$rule" "$hba" || $SUDO sed -i "1i $rule" "$hba"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" "$name" reload
    for _ in $(seq 1 50); do pg_login && break; sleep 0.2; done
    pg_login || fail "cannot log in as postgres on 127.0.0.1:5432 ($hba)"
fi
