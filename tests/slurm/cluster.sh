#!/usr/bin/env bash
# A single-node SLURM cluster on localhost, for the cluster-execution test.
#   tests/slurm/cluster.sh up DIR    install (Debian packages) if needed, configure, start;
#                                    DIR gets the pid files and logs
#   tests/slurm/cluster.sh down DIR  stop the daemons started by "up", by their pids, and
#                                    remove the configuration "up" wrote: with a slurm.conf
#                                    naming a controller that is gone, every `scontrol` waits
#                                    9 s, and the SLURM executor plugin runs one each time
#                                    Snakemake starts (measured: every snakemake -n 9 s slower)
# The node declares one "gpu" (File=/dev/null) so that jobs asking for gpu=1 can be scheduled
# on a GPU-less machine; there is no accounting (the executor reads job states with squeue).
set -euo pipefail
action=$1
dir=$(realpath -m "$2")
node=$(hostname -s)

down() {
    for name in slurmd slurmctld munged; do
        if [ -f "$dir/$name.pid" ]; then
            kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
            rm -f "$dir/$name.pid"
        fi
    done
    if grep -qs '^ClusterName=pipeline$' /etc/slurm/slurm.conf; then
        rm -f /etc/slurm/slurm.conf /etc/slurm/gres.conf
    fi
}

if [ "$action" = down ]; then
    down
    exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi
mkdir -p "$dir/spool/slurmd" "$dir/state" /etc/slurm /etc/munge /run/munge /var/lib/munge /var/log/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chmod 700 /etc/munge /var/lib/munge /var/log/munge
chmod 400 /etc/munge/munge.key
mem=$(awk '/MemTotal/ {print int($2 / 1024) - 2048}' /proc/meminfo)
cpus=$(nproc)
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=pipeline
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmdSpoolDir=$dir/spool/slurmd
StateSaveLocation=$dir/state
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
MinJobAge=300
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:1 State=UNKNOWN
PartitionName=main Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
echo "NodeName=$node Name=gpu File=/dev/null" > /etc/slurm/gres.conf
munged --force --pid-file="$dir/munged.pid" 2>>"$dir/munged.log" || munged --force 2>>"$dir/munged.log"
[ -f "$dir/munged.pid" ] || pgrep -n munged > "$dir/munged.pid"
slurmctld -c
slurmd -N "$node"
for _ in $(seq 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -q -E '^(idle|mix|alloc)'; then
        sinfo
        exit 0
    fi
    sleep 0.5
done
echo "SLURM did not come up; logs in $dir" >&2
tail -20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
down
exit 1
