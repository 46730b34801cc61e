#!/usr/bin/env bash
# Stop the local Slurm started by slurm/local/start.sh, by the PIDs it recorded.
DIR=${SLURM_LOCAL_DIR:-/tmp/sealion-slurm}
[ -f "$DIR/pids" ] || exit 0
while read -r pid; do [ -n "$pid" ] && kill "$pid" 2>/dev/null; done < <(tac "$DIR/pids")
sleep 1
while read -r pid; do [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; done < "$DIR/pids"
rm -f "$DIR/pids"
