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
# (systemctl and reboot that act on this machine only).
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
# Its own Nix store, database and system profile.
mkdir -p /nix
mount --bind "$state/nix" /nix

# Boot the system profile's current generation, as NixOS does.
system=$(readlink -f /nix/var/nix/profiles/system)
ln -s "$system" /run/current-system
ln -s "$system" /run/booted-system

setsid node "$services" "$state/services.json" "$system/services.json" &
/usr/sbin/sshd -D -e -f "$state/sshd_config" 2>>"$state/sshd.log" &

# `systemctl reboot` inside the machine sends TERM to PID 1: end everything, like a power cycle.
trap 'exit 0' TERM
wait
