#!/usr/bin/env bash
# Start a real single-node Slurm (slurmctld + slurmd + slurmdbd on MariaDB, munge) on this machine, as root,
# without systemd. Fake `gpu` gres (8 per node, /dev/null-backed) so GPU requests schedule. Idempotent.
# PIDs go to $SLURM_LOCAL_DIR/pids; slurm/local/stop.sh stops them by PID.
set -euo pipefail
DIR=${SLURM_LOCAL_DIR:-/tmp/sealion-slurm}
mkdir -p "$DIR"/{state,spool,log,run,gres}
PIDS="$DIR/pids"

if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends munge slurmctld slurmd slurm-client slurmdbd mariadb-server >/dev/null
fi

HOST=$(hostname -s)
CPUS=$(nproc)
MEM_MB=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
for i in 0 1 2 3 4 5 6 7; do ln -sf /dev/null "$DIR/gres/gpu$i"; done

# munge
mkdir -p /etc/munge /var/lib/munge /var/log/munge /run/munge
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
chown -R munge:munge /etc/munge /var/lib/munge /var/log/munge /run/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- /usr/sbin/munged 2>/dev/null || /usr/sbin/munged --force
fi
pgrep -x munged > "$PIDS"

# MariaDB for slurmdbd (accounting: sacct, which NeMo-Run polls for job state)
if ! mysqladmin --socket="$DIR/run/mysqld.sock" ping >/dev/null 2>&1; then
  if [ ! -d "$DIR/mysql/mysql" ]; then
    mariadb-install-db --user=root --datadir="$DIR/mysql" >/dev/null
  fi
  mariadbd --user=root --datadir="$DIR/mysql" --socket="$DIR/run/mysqld.sock" --bind-address=127.0.0.1 \
    --port=3306 --pid-file="$DIR/run/mysqld.pid" --skip-log-error >"$DIR/log/mysqld.log" 2>&1 &
  for _ in $(seq 60); do mysqladmin --socket="$DIR/run/mysqld.sock" ping >/dev/null 2>&1 && break; sleep 0.5; done
  mysql --socket="$DIR/run/mysqld.sock" -uroot -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
    CREATE DATABASE IF NOT EXISTS slurm_acct_db;"
fi
cat "$DIR/run/mysqld.pid" >> "$PIDS"

mkdir -p /etc/slurm
cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
DebugLevel=info
LogFile=$DIR/log/slurmdbd.log
PidFile=$DIR/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
CONF
chmod 600 /etc/slurm/slurmdbd.conf

cat > /etc/slurm/slurm.conf <<CONF
ClusterName=sealion
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=5
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerParameters=bf_interval=1,sched_interval=1
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=300
KillWait=10
GresTypes=gpu
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:8 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
cat > /etc/slurm/gres.conf <<CONF
AutoDetect=off
$(for i in 0 1 2 3 4 5 6 7; do echo "NodeName=$HOST Name=gpu File=$DIR/gres/gpu$i"; done)
CONF

start() {  # name pidfile command...
  local name=$1 pidfile=$2; shift 2
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then return; fi
  "$@"
  for _ in $(seq 40); do [ -s "$pidfile" ] && break; sleep 0.25; done
  [ -s "$pidfile" ] || { echo "slurm/local/start.sh: $name did not start; see $DIR/log" >&2; exit 1; }
}
start slurmdbd "$DIR/run/slurmdbd.pid" slurmdbd
for _ in $(seq 40); do sacctmgr -i show cluster >/dev/null 2>&1 && break; sleep 0.5; done
sacctmgr -i add cluster sealion >/dev/null 2>&1 || true
start slurmctld "$DIR/run/slurmctld.pid" slurmctld
start slurmd "$DIR/run/slurmd.pid" slurmd
for f in slurmdbd slurmctld slurmd; do cat "$DIR/run/$f.pid" >> "$PIDS"; done

for _ in $(seq 60); do
  state=$(sinfo -h -o %T 2>/dev/null | head -1)
  case "$state" in idle|mixed|allocated) break;; esac
  scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
  sleep 0.5
done
sinfo -h -o "%P %D %T %G" | sed 's/^/slurm up: /'
