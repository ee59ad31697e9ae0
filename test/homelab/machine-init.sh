#!/bin/bash
# PID 1 of one simulated machine. The supervisor runs it inside fresh mount, UTS and PID
# namespaces (unshare); when it exits, the kernel kills everything else in the machine and the
# machine's mounts vanish with its mount namespace.
# Usage: machine-init.sh MACHINE_DIR   (holds name, boot_id, hosts, sshd_config, bin/, profiles/)
set -euo pipefail
dir=$1
name=$(cat "$dir/name")
services=$(dirname "$(readlink -f "$0")")/services.mjs

hostname "$name"
# Own /run, boot id and /etc/hosts ("localhost" is the machine's own 127.x address).
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/sshd
mount --bind "$dir/boot_id" /proc/sys/kernel/random/boot_id
mount --bind "$dir/hosts" /etc/hosts
# systemctl and reboot act on this machine only.
mount --bind "$dir/bin" /usr/local/sbin
for target in /usr/bin/systemctl /usr/sbin/reboot; do
  if [ -e "$target" ] && [ ! -L "$target" ]; then mount --bind "$dir/bin/$(basename "$target")" "$target"; fi
done
# Own system profile.
if [ -d /nix/var/nix/profiles ]; then mount --bind "$dir/profiles" /nix/var/nix/profiles; fi

# Boot the system profile's generation: booted-system := current-system.
system=$(readlink -f "$dir/profiles/system")
ln -s "$system" /run/current-system
ln -s "$system" /run/booted-system

node "$services" "$dir" </dev/null >>"$dir/services.log" 2>&1 &
/usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log" </dev/null &

# `systemctl reboot` sends TERM to PID 1: exit, which takes down everything in the machine.
trap 'exit 0' TERM
wait
