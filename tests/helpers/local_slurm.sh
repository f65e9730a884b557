#!/usr/bin/env bash
# A single-node Slurm on this machine, for the `slurm`-marked tests of `codemix sweep --launcher slurm`
# (Debian's slurmctld, slurmd, slurm-client, slurmdbd, munge and mariadb-server; daemons started
# by hand, since a container has no systemd). Run as root.
#
#   local_slurm.sh install                     apt-get the packages if a binary is missing
#   local_slurm.sh start [--no-accounting]     start (or switch to) the cluster; prints SLURM_CONF
#   local_slurm.sh stop                        cancel its jobs, stop the daemons this script started
#   local_slurm.sh status
#
# Everything lives under $CODEMIX_SLURM_DIR (default /tmp/codemix-slurm): configs, spool, logs,
# pid files and its own MariaDB data directory on 127.0.0.1:$DB_PORT. So a
# machine's own MariaDB or Slurm is never touched (a munged already running is used as it is), and
# `stop` kills exactly the pids this script recorded. Clients find the cluster through SLURM_CONF=$CODEMIX_SLURM_DIR/etc/slurm.conf.
#
# With accounting: munged, mariadbd, slurmdbd, slurmctld, slurmd (5.5 s to an idle node on the
# 2-core test machine once installed; the first start also creates the database, ~4 s more).
# --no-accounting: munged, slurmctld, slurmd; `sacct` then fails with "accounting storage is
# disabled" and job states come from squeue/scontrol only, as on clusters without slurmdbd.
# Switching between the two restarts slurmctld and slurmd (job ids carry on: the state directory
# is kept, so sacct never sees one id for two jobs).
set -euo pipefail

DIR=${CODEMIX_SLURM_DIR:-/tmp/codemix-slurm}
NODE=$(hostname -s)
PART=debug
DB_PORT=${CODEMIX_SLURM_DB_PORT:-33061}
CONF=$DIR/etc/slurm.conf
export SLURM_CONF=$CONF
# KillWait 10 s (Slurm's default is 30): a cancelled job's processes get SIGTERM, then SIGKILL
# this long after; codemix's cells stop on SIGTERM at once, so only a stuck process waits it out.
KILL_WAIT=10

PACKAGES=(slurmctld slurmd slurm-client slurmdbd munge mariadb-server)

alive() { [[ -f $DIR/pids/$1 ]] && kill -0 "$(cat "$DIR/pids/$1")" 2>/dev/null; }

bg() {  # bg NAME CMD...: a foreground daemon in the background; its pid recorded for `stop`
  local name=$1; shift
  if alive "$name"; then return; fi
  nohup "$@" >>"$DIR/log/$name.log" 2>&1 &
  echo $! >"$DIR/pids/$name"
}

wait_for() {  # wait_for WHAT SECONDS CMD...: retry CMD until it succeeds or SECONDS have passed
  local what=$1 deadline=$((SECONDS + $2)); shift 2
  while ((SECONDS < deadline)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
  echo "local_slurm: timed out waiting for $what; see $DIR/log" >&2
  return 1
}

stop_one() {
  local name=$1 pid
  alive "$name" || { rm -f "$DIR/pids/$name"; return 0; }
  pid=$(cat "$DIR/pids/$name")
  kill "$pid"
  for _ in $(seq 80); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  rm -f "$DIR/pids/$name"
  echo "$name: stopped (pid $pid)"
}

cancel_jobs() {  # jobs left by a test would keep their slurmstepd and processes after slurmd stops
  alive slurmctld || return 0
  local ids
  ids=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
  [[ -z ${ids// /} ]] && return 0
  # shellcheck disable=SC2086
  scancel $ids 2>/dev/null || true
  for _ in $(seq $(((KILL_WAIT + 5) * 4))); do [[ -z $(squeue -h -o %A 2>/dev/null) ]] && return 0; sleep 0.25; done
  echo "local_slurm: jobs still listed after ${KILL_WAIT} s: $(squeue -h -o %i | tr '\n' ' ')" >&2
}

install_packages() {
  local missing=0
  for bin in slurmctld slurmd sbatch slurmdbd munged mariadbd; do
    command -v "$bin" >/dev/null || [[ -x /usr/sbin/$bin ]] || missing=1
  done
  [[ $missing == 0 ]] && return 0
  apt-get update -qq
  # Debian's policy-rc.d in containers keeps apt from starting the services; this script starts them.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
}

write_configs() {  # write_configs ACCOUNTING(yes|no)
  local cpus mem acct=$1
  cpus=$(nproc)
  # 85% of the memory slurmd detects: RealMemory above what the node reports drains the node.
  mem=$(( $(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p') * 85 / 100 ))
  {
    echo "ClusterName=codemix"
    echo "SlurmctldHost=$NODE"
    echo "SlurmUser=root"
    echo "AuthType=auth/munge"
    # A requeued job may start again cred_expire seconds later (Slurm's default: 120 s, measured
    # here as a 2-minute BeginTime after `scontrol requeue`); 10 s keeps the requeue test short.
    echo "AuthInfo=cred_expire=10"
    echo "MailProg=/bin/true"
    echo "StateSaveLocation=$DIR/spool/ctld"
    echo "SlurmdSpoolDir=$DIR/spool/d"
    echo "SlurmctldPidFile=$DIR/run/slurmctld.pid"
    echo "SlurmdPidFile=$DIR/run/slurmd.pid"
    echo "SlurmctldLogFile=$DIR/log/slurmctld.log"
    echo "SlurmdLogFile=$DIR/log/slurmd.log"
    # No cgroups in a container: processes tracked by parentage, no binding, so --mem and
    # --cpus-per-task are bookkeeping only (codemix reads SLURM_CPUS_PER_TASK for its threads).
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core_Memory"
    echo "KillWait=$KILL_WAIT"
    echo "ReturnToService=2"
    if [[ $acct == yes ]]; then
      echo "JobAcctGatherType=jobacct_gather/linux"
      echo "AccountingStorageType=accounting_storage/slurmdbd"
      echo "AccountingStorageHost=localhost"
    else
      echo "AccountingStorageType=accounting_storage/none"
    fi
    echo "NodeName=$NODE CPUs=$cpus RealMemory=$mem State=UNKNOWN"
    echo "PartitionName=$PART Nodes=$NODE Default=YES MaxTime=INFINITE State=UP"
  } >"$CONF"
  cat >"$DIR/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=root
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=codemix-test
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$DIR/etc/slurmdbd.conf"
}

start_munge() {
  # Slurm's clients (sacctmgr among them) talk to munged on its default socket, so a munged that
  # already answers there (the machine's own, with /etc/munge/munge.key) is used and left alone.
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && ! alive munged && return 0
  [[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  install -d -o munge -g munge "$DIR/munge"
  bg munged runuser -u munge -- /usr/sbin/munged --foreground --pid-file="$DIR/munge/munged.pid" \
    --seed-file="$DIR/munge/munged.seed" --log-file="$DIR/log/munged.log"
  wait_for munged 30 bash -c 'munge -n | unmunge'
}

start_database() {
  local sock=$DIR/mysql/mysqld.sock
  if [[ ! -d $DIR/mysql/data/mysql ]]; then
    install -d -o mysql -g mysql "$DIR/mysql" "$DIR/mysql/data"
    mariadb-install-db --user=mysql --datadir="$DIR/mysql/data" --skip-test-db >"$DIR/log/mariadb-install.log" 2>&1
  fi
  bg mariadbd /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DIR/mysql/data" --socket="$sock" \
    --bind-address=127.0.0.1 --port="$DB_PORT" --pid-file="$DIR/mysql/mariadbd.pid"
  wait_for mariadbd 60 mariadb --no-defaults --socket="$sock" -e 'select 1'
  mariadb --no-defaults --socket="$sock" -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'codemix-test';
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'codemix-test';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
    FLUSH PRIVILEGES;"
  bg slurmdbd slurmdbd -D  # reads slurmdbd.conf beside $SLURM_CONF
  wait_for slurmdbd 30 sacctmgr -n list cluster
}

start() {
  local acct=yes
  [[ ${1:-} == --no-accounting ]] && acct=no
  [[ ${1:-} != "" && ${1:-} != --no-accounting ]] && { echo "usage: $0 start [--no-accounting]" >&2; exit 2; }
  command -v slurmctld >/dev/null || { echo "local_slurm: Slurm is not installed (run: $0 install)" >&2; exit 3; }
  mkdir -p "$DIR"/{etc,spool/ctld,spool/d,log,pids,run}
  if [[ -f $DIR/mode && $(cat "$DIR/mode") != "$acct" ]]; then  # switching: restart the Slurm daemons
    cancel_jobs
    stop_one slurmd >/dev/null; stop_one slurmctld >/dev/null
  fi
  echo "$acct" >"$DIR/mode"
  write_configs "$acct"
  start_munge
  if [[ $acct == yes ]]; then start_database; else stop_one slurmdbd >/dev/null; stop_one mariadbd >/dev/null; fi
  bg slurmctld slurmctld -D -f "$CONF"
  wait_for slurmctld 30 scontrol ping
  bg slurmd slurmd -D -f "$CONF"
  wait_for "node $NODE idle" 60 bash -c "sinfo -h -n $NODE -o %t | grep -qx idle || \
    { scontrol update nodename=$NODE state=resume 2>/dev/null; false; }"
  echo "SLURM_CONF=$CONF"
}

stop() {
  cancel_jobs
  for name in slurmd slurmctld slurmdbd mariadbd munged; do stop_one "$name"; done
  rm -f "$DIR/mode"
}

status() {
  for name in munged mariadbd slurmdbd slurmctld slurmd; do
    if alive "$name"; then echo "$name: running (pid $(cat "$DIR/pids/$name"))"; else echo "$name: stopped"; fi
  done
  [[ -f $DIR/mode ]] && echo "accounting: $(cat "$DIR/mode")"
  if alive slurmctld; then sinfo; fi
}

case ${1:-} in
  install) install_packages ;;
  start) shift; start "$@" ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install | start [--no-accounting] | stop | status" >&2; exit 2 ;;
esac
