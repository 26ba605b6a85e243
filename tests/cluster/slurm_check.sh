#!/usr/bin/env bash
# The SLURM path for real: start a one-node SLURM cluster (Debian's slurm-wlm and munge) in a temporary
# directory, run a tiny config of the workflow on it through snakemake-executor-plugin-slurm with
# --profile profiles/slurm, run the same config locally, and check that
#   - every job went through sbatch, ran on this node and completed (snakemake log + scontrol),
#   - both runs wrote the same numbers (tests/cluster/slurm_check.py compare).
# Installs the packages on first use (apt-get, pip) and stops every daemon it started, also on failure.
#
#   make slurm-check                      # VENV=... to use another virtual environment
#   VENV=/path/to/venv tests/cluster/slurm_check.sh
#
# Needs root (it installs packages and runs slurmd, which starts jobs). Environment:
#   VENV                 virtual environment with the project's requirements (default: .venv)
#   SLURM_CHECK_TIMEOUT  seconds each workflow run may take (default 1800)
#   SLURM_CHECK_KEEP=1   keep the temporary directory (logs, both runs) after a passing check
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$(cd "${VENV:-$ROOT/.venv}" && pwd) || { echo "slurm-check: FAIL: no virtual environment at ${VENV:-$ROOT/.venv} (run make env)" >&2; exit 1; }
PY=$VENV/bin/python
TIMEOUT=${SLURM_CHECK_TIMEOUT:-1800}
# the plugin and the jobstep plugin it pulls in, pinned to the versions this check passed with
PLUGIN=snakemake-executor-plugin-slurm
PLUGIN_VERSION=2.8.0
JOBSTEP=snakemake-executor-plugin-slurm-jobstep
JOBSTEP_VERSION=0.6.1
PARTITION=local
CTLD_PORT=16817   # not SLURM's default 6817/6818, so a site's own daemons cannot collide with these
SLURMD_PORT=16818
# the check's cluster keeps finished jobs visible to squeue/scontrol for this long (seconds). The plugin
# uses squeue only if MinJobAge >= 3 x its first status-check delay (40 s by default), and the job assertions
# below read every job back with scontrol after the run.
MIN_JOB_AGE=3600

T_START=$(date +%s)
fail() { echo "slurm-check: FAIL: $*" >&2; exit 1; }
say() { echo "slurm-check: $*"; }
seconds_since() { echo $(( $(date +%s) - $1 )); }

[ "$(id -u)" = 0 ] || fail "run as root: the check installs Debian packages and starts slurmd, which runs the jobs"
[ -x "$PY" ] || fail "no python in $VENV (run make env)"
command -v apt-get >/dev/null || fail "apt-get not found: the check uses Debian's slurm-wlm and munge"

# --- packages ---------------------------------------------------------------------------------------
T0=$(date +%s)
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
if ! installed slurm-wlm || ! installed munge; then
    say "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || fail "apt-get update failed"
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null || fail "apt-get install slurm-wlm munge failed"
fi
for tool in slurmctld slurmd munged sbatch squeue scontrol sinfo; do
    command -v "$tool" >/dev/null || fail "$tool not found after installing slurm-wlm and munge"
done
plugin_version() { "$PY" -c "from importlib.metadata import version; print(version('$1'))" 2>/dev/null || true; }
if [ "$(plugin_version $PLUGIN)" != "$PLUGIN_VERSION" ] || [ "$(plugin_version $JOBSTEP)" != "$JOBSTEP_VERSION" ]; then
    say "installing $PLUGIN==$PLUGIN_VERSION into $VENV (pip)"
    "$PY" -m pip install --quiet "$PLUGIN==$PLUGIN_VERSION" "$JOBSTEP==$JOBSTEP_VERSION" || fail "pip install $PLUGIN==$PLUGIN_VERSION failed"
fi
[ "$(plugin_version $PLUGIN)" = "$PLUGIN_VERSION" ] || fail "$PLUGIN $PLUGIN_VERSION is not importable from $VENV"
INSTALL_SECONDS=$(seconds_since "$T0")

# --- cluster ----------------------------------------------------------------------------------------
for port in $CTLD_PORT $SLURMD_PORT; do
    if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
        fail "port $port is in use (a SLURM daemon left over?); see: pgrep -a slurm"
    fi
done

# Inside each job the jobstep plugin starts the rule with srun, and strips every SLURM_* variable (SLURM_CONF
# included) from srun's environment (snakemake-executor-plugin-slurm-jobstep 0.6.1), so srun reads the
# default /etc/slurm/slurm.conf. For the duration of the check that is a link to this cluster's config.
ETC_CONF=/etc/slurm/slurm.conf
if [ -L "$ETC_CONF" ] && [[ "$(readlink "$ETC_CONF")" == /tmp/slurm-check.*/slurm.conf ]]; then
    rm -f "$ETC_CONF"   # left by an interrupted check
fi
if [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
    fail "$ETC_CONF exists: this host is configured for a SLURM cluster already; run the check in a container or VM"
fi

WORK=$(mktemp -d /tmp/slurm-check.XXXXXX)
PIDS=()   # daemons started here, stopped in reverse order on exit
ETC_LINK=0
cleanup() {
    local rc=$?
    set +e
    [ $ETC_LINK = 1 ] && rm -f "$ETC_CONF"
    if [ ${#PIDS[@]} -gt 0 ]; then
        scancel --user "$(id -un)" >/dev/null 2>&1   # our cluster only: SLURM_CONF points at it
        for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
            kill "${PIDS[i]}" 2>/dev/null
            for _ in $(seq 50); do kill -0 "${PIDS[i]}" 2>/dev/null || break; sleep 0.2; done
            kill -0 "${PIDS[i]}" 2>/dev/null && kill -9 "${PIDS[i]}" 2>/dev/null
            wait "${PIDS[i]}" 2>/dev/null
        done
    fi
    if [ $rc -eq 0 ] && [ "${SLURM_CHECK_KEEP:-0}" != 1 ]; then
        rm -rf "$WORK"
    else
        echo "slurm-check: logs and both runs kept in $WORK" >&2
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$WORK/state" "$WORK/spool" "$WORK/log"
# this host as the node, with the CPUs and memory slurmd itself detects
NODE_LINE=$(slurmd -C 2>/dev/null | grep '^NodeName=') || fail "slurmd -C printed no node description"
NODE=$(sed 's/^NodeName=\([^ ]*\).*/\1/' <<<"$NODE_LINE")
NODE_CPUS=$(sed 's/.* CPUs=\([0-9]*\).*/\1/' <<<"$NODE_LINE")
NODE_MEM=$(sed 's/.* RealMemory=\([0-9]*\).*/\1/' <<<"$NODE_LINE")
cat >"$WORK/slurm.conf" <<EOF
# one-node cluster of the SLURM check (tests/cluster/slurm_check.sh); everything lives in $WORK
ClusterName=slurmcheck
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge.socket
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/log/slurmctld.log
SlurmdLogFile=$WORK/log/slurmd.log
MailProg=/bin/true
# no cgroups (they are not available in a container): track processes through /proc, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# no accounting daemon (slurmdbd): sacct has nothing to report, see the status command below
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=$MIN_JOB_AGE
ReturnToService=2
$NODE_LINE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$WORK/slurm.conf
mkdir -p "$(dirname "$ETC_CONF")"
ln -s "$WORK/slurm.conf" "$ETC_CONF"
ETC_LINK=1

# a fresh munge key for this cluster only, and munged on its own socket (no system munged needed)
if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$WORK/munge.key" || fail "mungekey --create failed"
else
    dd if=/dev/urandom of="$WORK/munge.key" bs=1024 count=1 status=none
fi
chmod 600 "$WORK/munge.key"
munged --foreground --force --socket="$WORK/munge.socket" --key-file="$WORK/munge.key" \
    --pid-file="$WORK/munged.pid" --seed-file="$WORK/munged.seed" --log-file="$WORK/log/munged.log" \
    >"$WORK/log/munged.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$WORK/munge.socket" ] && break; sleep 0.2; done
munge --socket="$WORK/munge.socket" -n | unmunge --socket="$WORK/munge.socket" >/dev/null \
    || fail "munged does not answer (see $WORK/log/munged.out)"

slurmctld -D -i >"$WORK/log/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D >"$WORK/log/slurmd.out" 2>&1 &
PIDS+=($!)
STATE=
for _ in $(seq 60); do
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || fail "a daemon exited at start (see $WORK/log/*.out)"; done
    STATE=$(sinfo --noheader --nodes="$NODE" --format=%T 2>/dev/null || true)
    [ "$STATE" = idle ] && break
    sleep 1
done
[ "$STATE" = idle ] || fail "node $NODE is '$STATE', not idle, after 60 s (see $WORK/log/slurmctld.out, slurmd.out)"
SLURM_VERSION=$(sinfo --version)
say "cluster up: $SLURM_VERSION (Debian package slurm-wlm $(dpkg-query -W -f='${Version}' slurm-wlm)), node $NODE with $NODE_CPUS CPUs and $NODE_MEM MB, partition $PARTITION"

# --- the workflow, on SLURM and locally -------------------------------------------------------------
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"   # this checkout's library, in the jobs too (sbatch --export=ALL)
export HF_HUB_OFFLINE=1
"$PY" "$ROOT/tests/cluster/slurm_check.py" config "$WORK/config.yaml"
# profiles/slurm as users run it, adapted to this cluster by a second profile given after it: partition
# 'local', no GPU request (the node has none), mem_mb and cores capped; see the header of the generated file
"$PY" "$ROOT/tests/cluster/slurm_check.py" profile "$WORK/local-profile" "$PARTITION" 2000 "$NODE_CPUS"
mkdir -p "$WORK/slurm-run" "$WORK/local-run"
cp "$WORK/config.yaml" "$WORK/slurm-run/config.yaml"
cp "$WORK/config.yaml" "$WORK/local-run/config.yaml"

# Executor options for a cluster without accounting (slurmdbd):
#   --slurm-status-command squeue  the plugin's default status query is sacct, which fails here
#       ("Slurm accounting storage is disabled"), so finished jobs are never seen and the run hangs after
#       its last job; squeue --states=all reports them for MinJobAge seconds
#   --slurm-no-account             submit without -A: there are no accounts, and the plugin would
#       otherwise look one up with sacct
#   --slurm-init-seconds-before-status-checks 10   poll every 10 s instead of 40 s (then +10 s per
#       idle poll), so that each stage of this short run is noticed sooner (the default spares a
#       shared controller; this one is private)
# --workflow-profile none: as in profiles/slurm's header, else profiles/default replaces its default-resources.
say "SLURM run: --profile profiles/slurm (+ $WORK/local-profile) in $WORK/slurm-run"
T0=$(date +%s)
(
    cd "$WORK/slurm-run"
    timeout -k 60 "$TIMEOUT" "$VENV/bin/snakemake" --snakefile "$ROOT/Snakefile" --directory "$WORK/slurm-run" \
        --profile "$ROOT/profiles/slurm" --profile "$WORK/local-profile" --workflow-profile none \
        --slurm-status-command squeue --slurm-no-account --slurm-init-seconds-before-status-checks 10
) >"$WORK/slurm-run.log" 2>&1 || {
    rc=$?
    tail -n 40 "$WORK/slurm-run.log" >&2
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        fail "the SLURM run took longer than $TIMEOUT s (log: $WORK/slurm-run.log)"
    fi
    fail "the SLURM run failed with exit code $rc (log: $WORK/slurm-run.log)"
}
SLURM_SECONDS=$(seconds_since "$T0")
say "SLURM run done in $SLURM_SECONDS s"
grep -q "Using profiles $ROOT/profiles/slurm and $WORK/local-profile" "$WORK/slurm-run.log" \
    || fail "the SLURM run did not use profiles/slurm (log: $WORK/slurm-run.log)"
"$PY" "$ROOT/tests/cluster/slurm_check.py" jobs "$WORK/slurm-run.log" "$NODE" "$PARTITION"
LAUNCHED=$(grep -c "Launching batch job" "$WORK/log/slurmd.log" || true)
SUBMITTED=$(grep -c "has been submitted with SLURM jobid" "$WORK/slurm-run.log" || true)
[ "$LAUNCHED" = "$SUBMITTED" ] || fail "slurmd's log shows $LAUNCHED batch jobs launched, snakemake submitted $SUBMITTED (see $WORK/log/slurmd.log)"
say "slurmd launched $LAUNCHED batch jobs on $NODE"

say "local run: --profile profiles/default --cores 2 in $WORK/local-run"
T0=$(date +%s)
(
    cd "$WORK/local-run"
    timeout -k 60 "$TIMEOUT" "$VENV/bin/snakemake" --snakefile "$ROOT/Snakefile" --directory "$WORK/local-run" \
        --profile "$ROOT/profiles/default" --cores 2
) >"$WORK/local-run.log" 2>&1 || {
    tail -n 40 "$WORK/local-run.log" >&2
    fail "the local run failed (log: $WORK/local-run.log)"
}
LOCAL_SECONDS=$(seconds_since "$T0")
say "local run done in $LOCAL_SECONDS s"
"$PY" "$ROOT/tests/cluster/slurm_check.py" compare "$WORK/slurm-run" "$WORK/local-run"

say "PASS: $SLURM_VERSION (Debian slurm-wlm $(dpkg-query -W -f='${Version}' slurm-wlm)), $PLUGIN $(plugin_version $PLUGIN)," \
    "$JOBSTEP $(plugin_version $JOBSTEP)"
say "times: installs ${INSTALL_SECONDS} s, SLURM run ${SLURM_SECONDS} s, local run ${LOCAL_SECONDS} s, total $(seconds_since "$T_START") s"
