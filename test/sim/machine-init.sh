#!/bin/bash
# PID 1 of one simulated machine, run by the homelab supervisor inside fresh mount, UTS and PID
# namespaces (unshare). Everything it starts dies with it; its mounts vanish with the namespace.
# Usage: machine-init.sh STATE_DIR SERVICES_SCRIPT   (STATE_DIR holds name, boot_id, sshd_config, ...)
set -euo pipefail
state=$1
services=$2
name=$(cat "$state/name")

hostname "$name"
# Its own /run, boot id, /etc/hosts (localhost = the machine's own address) and /usr/local/sbin
# (systemctl, reboot, systemd-run that act on this machine only).
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/sshd
mount --bind "$state/boot_id" /proc/sys/kernel/random/boot_id
mount --bind "$state/hosts" /etc/hosts
mount --bind "$state/sbin" /usr/local/sbin
# sshd runs every command through root's shell, which reads ~/.bashrc: the host's may run tools
# (pyenv rehash takes a lock file) that a simulated reboot kills half-way, leaving the lock
# behind for every later session. The machines get an empty one.
home=$(getent passwd "$(id -un)" | cut -d: -f6)
if [ -n "$home" ] && [ -f "$home/.bashrc" ]; then mount --bind /dev/null "$home/.bashrc"; fi
# Its own Nix store, database and system profile, and its own /boot (its ESP, kept like a disk).
mkdir -p /nix /boot
mount --bind "$state/nix" /nix
mount --bind "$state/boot" /boot

# Boot what the boot loader boots by default, as the firmware does: systemd-boot's loader.conf
# names the entry, whose options pass init=<system>/init (not the profile: NixOS's boot default
# is what switch-to-configuration switch|boot last installed).
entry=$(sed -n 's/^default[[:space:]]\{1,\}//p' /boot/loader/loader.conf 2>/dev/null | tail -n 1 || true)
init=$(sed -n 's/^options.*init=\([^ ]*\).*/\1/p' "/boot/loader/entries/$entry" 2>/dev/null || true)
if [ -z "$init" ]; then
  echo "$name: no boot entry to boot (loader.conf's default: '$entry')" >&2
  exec sleep infinity
fi
system=${init%/init}
ln -s "$system" /run/current-system
ln -s "$system" /run/booted-system

# systemd's part, on machines that have it: /run/systemd/system (what sd_booted() checks) and
# the transient units systemd-run asks for, started here as children of PID 1, with a clean
# environment, outside any SSH session.
units=/run/lab-sim-systemd/units
run_unit() {
  local dir=$1 unit status
  unit=${dir##*/}
  : >"$dir/started"
  echo "start $unit $(date +%s%3N)" >>"$state/units.log"
  set +e
  (
    trap '' PIPE # systemd's IgnoreSIGPIPE=yes
    cd /
    if [ -e "$dir/pipe" ]; then
      client=$(cat "$dir/client")
      exec <"/proc/$client/fd/0" >"/proc/$client/fd/1" 2>"/proc/$client/fd/2"
    else
      exec </dev/null >/dev/null 2>&1
    fi
    eval "exec env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin $(cat "$dir/environment") $(cat "$dir/command")"
  )
  status=$?
  set -e
  echo "exit $unit $status $(date +%s%3N)" >>"$state/units.log"
  echo "$status" >"$dir/result.new"
  mv "$dir/result.new" "/run/lab-sim-systemd/results/$(cat "$dir/invocation")"
  # A unit that ended is unloaded (its name free again); a failed one only with --collect.
  if [ "$status" = 0 ] || [ -e "$dir/collect" ]; then rm -rf "$dir"; else : >"$dir/failed"; fi
}
start_units() {
  local request
  for request in "$units"/*/request; do
    [ -e "$request" ] || continue
    rm -f "$request"
    run_unit "${request%/request}" &
  done
}
if [ -e "$state/systemd" ]; then
  mkdir -p /run/systemd/system "$units" /run/lab-sim-systemd/results
  trap start_units USR1
fi

setsid perl "$services" "$state/services.json" "$system/services.json" &
/usr/sbin/sshd -D -e -f "$state/sshd_config" 2>>"$state/sshd.log" &

# `systemctl reboot` asks PID 1 (SIGUSR2) for a shutdown: after the machine's shutdown delay
# (0.1 s unless set) PID 1 ends, and everything with it, like a power cycle. A TERM does the same
# at once.
shutdown() {
  local delay
  delay=$(cat "$state/shutdown-delay" 2>/dev/null || echo 0.1)
  (sleep "$delay"; kill -TERM $$) </dev/null >/dev/null 2>&1 &
}
trap shutdown USR2
trap 'exit 0' TERM
while :; do
  wait || true
  sleep 0.05
done
