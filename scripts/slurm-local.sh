#!/usr/bin/env bash
# scripts/slurm-local.sh start|stop|status
#
# A one-node Slurm cluster on this machine, from Debian's packages (slurmctld, slurmd, slurm-client,
# munge; `start` installs them with apt when they are missing), for pulse's Slurm executor tests
# (.ci/run) and for developers. No systemd: the daemons are started here and stopped by their pid
# files. What it takes (found on Debian 12, Slurm 22.05, in a container):
#   - munged runs as the munge user, with /run/munge made by hand;
#   - the hostname is not `localhost`: slurmd runs as `-N localhost` with NodeAddr=127.0.0.1;
#   - proctrack/linuxproc + task/none need no cgroups;
#   - no accounting database: job states come from `scontrol show job` (MinJobAge keeps ended jobs
#     known for an hour), never sacct;
#   - DependencyParameters=kill_invalid_depend cancels a job whose dependency can never be met;
#   - `stop` cancels every job first: killing slurmd leaves the jobs' processes running.
# Writes /etc/slurm/slurm.conf (refusing to replace one it did not write) and keeps state and logs
# in $PULSE_SLURM_DIR (default /tmp/pulse-slurm).
set -euo pipefail

DIR="${PULSE_SLURM_DIR:-/tmp/pulse-slurm}"
CONF=/etc/slurm/slurm.conf
MARK='# written by pulse scripts/slurm-local.sh'

say() { echo "slurm-local: $*" >&2; }

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then return; fi
  say "installing slurmctld slurmd slurm-client munge (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurmctld slurmd slurm-client munge >/dev/null
}

write_conf() {
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    say "$CONF exists and was not written by this script: refusing to replace it"; exit 1
  fi
  local cpus mem
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  mkdir -p /etc/slurm "$DIR/state" "$DIR/spool"
  cat > "$CONF" <<EOF
$MARK
ClusterName=pulse-local
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=3600
DependencyParameters=kill_invalid_depend
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 755 /run/munge
  if [ ! -f /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  fi
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.1; done
  say "munged did not start"; exit 1
}

start() {
  local t0=$SECONDS
  install_packages
  write_conf
  start_munge
  running "$DIR/slurmctld.pid" || slurmctld -c
  running "$DIR/slurmd.pid" || slurmd -N localhost
  for _ in $(seq 120); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
    if [ "$state" = idle ] || [ "$state" = mixed ] || [ "$state" = allocated ]; then
      say "one node up ($state, $(nproc) CPUs) in $((SECONDS - t0)) s; state and logs in $DIR"; return
    fi
    sleep 0.5
  done
  say "the node did not come up; see $DIR/slurmctld.log and $DIR/slurmd.log"; exit 1
}

stop() {
  if command -v squeue >/dev/null && running "$DIR/slurmctld.pid"; then
    jobs=$(squeue -h -o %A 2>/dev/null | sort -u || true)
    if [ -n "$jobs" ]; then
      # shellcheck disable=SC2086
      scancel $jobs || true
      for _ in $(seq 60); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.5; done
    fi
  fi
  for daemon in slurmd slurmctld; do
    if running "$DIR/$daemon.pid"; then kill "$(cat "$DIR/$daemon.pid")"; fi
  done
  for _ in $(seq 40); do running "$DIR/slurmd.pid" || running "$DIR/slurmctld.pid" || break; sleep 0.25; done
  if [ -f /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then kill "$(cat /run/munge/munged.pid)"; fi
  say "stopped"
}

status() {
  if running "$DIR/slurmctld.pid" && running "$DIR/slurmd.pid"; then sinfo; squeue; else say "not running"; exit 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
