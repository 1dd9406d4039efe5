#!/usr/bin/env bash
# Run a command inside a QEMU VM (TCG, no KVM needed) whose kernel runs pure
# cgroup v2 with +memory +pids +cpu enabled in the root cgroup.
#
#   scripts/cgroup2-vm/run.sh [options] -- <command...>
#
# The host's / is visible read-only, the project folder (two levels above this
# script) read-write at the same path; the command runs in the caller's cwd
# (same path), in the ROOT cgroup by default, with stdout+stderr streamed to
# this script's stdout; run.sh exits with the command's exit status.
# See README.md next to this file.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
PROJECT=$(cd "$HERE/../.." && pwd -P)
CACHE=${CGROUP2_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ts-container-samples/cgroup2-vm}
TIMEOUT=${CGROUP2_VM_TIMEOUT:-1800}
MEM=${CGROUP2_VM_MEM:-3G}
CPUS=${CGROUP2_VM_CPUS:-2}
KERNEL_PKG=${CGROUP2_VM_KERNEL_PKG:-} # e.g. linux-image-6.1.0-56-amd64; default: what linux-image-amd64 depends on
DEBUG=${CGROUP2_VM_DEBUG:-0}
BUILD_REV=1 # bump to force a rebuild of the cached kernel+initramfs

# Environment variables passed into the VM (plus any -e NAME[=VALUE]).
PASS_ENV=(PATH HOME USER LOGNAME LANG LC_ALL TERM TZ CI NODE_ENV NODE_OPTIONS FORCE_COLOR NO_COLOR)

usage() {
	cat >&2 <<EOF
usage: $0 [options] -- <command...>
  -w DIR       also share DIR read-write (same path; repeatable). The project
               ($PROJECT) is always shared read-write.
  -g CGROUP    run the command in this cgroup (e.g. /test, created under the
               cgroup2 root) instead of the root cgroup
  -e NAME[=V]  pass an environment variable into the VM (repeatable)
  -t SECONDS   kill the VM after this long (default \$CGROUP2_VM_TIMEOUT or 1800)
env: CGROUP2_VM_MEM (default 3G), CGROUP2_VM_CPUS (2), CGROUP2_VM_TIMEOUT,
     CGROUP2_VM_CACHE, CGROUP2_VM_KERNEL_PKG, CGROUP2_VM_DEBUG=1 (show kernel log)
EOF
	exit 2
}

die() { echo "cgroup2-vm: $*" >&2; exit 125; }
note() { echo "cgroup2-vm: $*" >&2; }

RW_DIRS=()
CGROUP=
EXTRA_ENV=()
while (($#)); do
	case $1 in
	-w) [[ $# -ge 2 ]] || usage; RW_DIRS+=("$(cd "$2" && pwd -P)") || die "no such folder: $2"; shift 2 ;;
	-g) [[ $# -ge 2 ]] || usage; CGROUP=$2; shift 2 ;;
	-e) [[ $# -ge 2 ]] || usage; EXTRA_ENV+=("$2"); shift 2 ;;
	-t) [[ $# -ge 2 ]] || usage; TIMEOUT=$2; shift 2 ;;
	--) shift; break ;;
	-h | --help) usage ;;
	*) usage ;;
	esac
done
(($#)) || usage
if [[ -n $CGROUP ]]; then
	[[ $CGROUP == /* ]] || CGROUP=/$CGROUP
	[[ $CGROUP =~ ^(/[A-Za-z0-9._-]+)+$ ]] || die "bad cgroup path: $CGROUP"
fi

mkdir -p "$CACHE" || die "cannot create the cache folder $CACHE"
APTLOG=$CACHE/apt.log

# ---------------------------------------------------------------- host tools
APT_UPDATED=0
apt_update() {
	((APT_UPDATED)) && return 0
	note "apt-get update (log: $APTLOG)"
	apt-get update >>"$APTLOG" 2>&1 || return 1
	APT_UPDATED=1
}
apt_install() { # pkg...
	[[ $(id -u) == 0 ]] || return 1
	command -v apt-get >/dev/null || return 1
	note "installing $* with apt-get (log: $APTLOG)"
	apt_update || return 1
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >>"$APTLOG" 2>&1
}

command -v qemu-system-x86_64 >/dev/null || apt_install qemu-system-x86 ||
	die "qemu-system-x86_64 is missing and 'apt-get install qemu-system-x86' failed (need root + Debian mirror; log: $APTLOG)"
command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (this script needs a Debian host)"
command -v xz >/dev/null || apt_install xz-utils || die "xz is missing and 'apt-get install xz-utils' failed (log: $APTLOG)"

# ------------------------------------------- kernel + busybox (downloaded .debs)
candidate() { # pkg -> candidate version ("" if unknown)
	apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2; exit }'
}
resolve_pkgs() {
	# apt-cache takes ~0.7 s per call here: remember the answer for as long as
	# the apt lists do not change.
	local stamp memo
	stamp=$( { echo "$KERNEL_PKG"; ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null; } | sha256sum | cut -c1-16)
	memo=$CACHE/resolved-$stamp
	if [[ -s $memo ]]; then
		read -r KPKG KVER BBVER <"$memo" || true
		[[ -n ${BBVER:-} ]] && return 0
	fi
	KPKG=$KERNEL_PKG
	if [[ -z $KPKG ]]; then
		KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	fi
	KVER=
	BBVER=
	[[ -n $KPKG ]] && KVER=$(candidate "$KPKG")
	BBVER=$(candidate busybox-static)
	[[ -n $KPKG && -n $KVER && -n $BBVER ]] || return 1
	rm -f "$CACHE"/resolved-*
	echo "$KPKG $KVER $BBVER" >"$memo"
}
resolve_pkgs || { apt_update && resolve_pkgs; } ||
	die "cannot find a kernel package (${KPKG:-linux-image-amd64}) or busybox-static in the apt lists (apt-get update failed? log: $APTLOG)"

DEBS=$CACHE/debs
mkdir -p "$DEBS"
deb_path() { echo "$DEBS/${1}_${2//:/%3a}_amd64.deb"; }
fetch_deb() { # pkg version
	local f
	f=$(deb_path "$1" "$2")
	[[ -s $f ]] && return 0
	note "downloading $1=$2 (log: $APTLOG)"
	# _apt cannot write to root's cache folder: download as root (harmless warning).
	(cd "$DEBS" && apt-get download "$1=$2" >>"$APTLOG" 2>&1) && [[ -s $f ]]
}
if ! fetch_deb "$KPKG" "$KVER" || ! fetch_deb busybox-static "$BBVER"; then
	# Stale apt lists (the mirror dropped that version): refresh and retry once.
	{ apt_update && resolve_pkgs && fetch_deb "$KPKG" "$KVER" && fetch_deb busybox-static "$BBVER"; } ||
		die "cannot download $KPKG=$KVER / busybox-static=$BBVER with apt-get download (log: $APTLOG)"
fi

KEY=$(printf '%s\n' "rev=$BUILD_REV" "$KPKG=$KVER" "busybox-static=$BBVER" "$(sha256sum <"$HERE/init.sh")" | sha256sum | cut -c1-16)
IMG=$CACHE/img-$KEY

extract_vmlinux() { # vmlinuz out: find the compressed payload, decompress it to an ELF
	local img=$1 out=$2 magic tool off
	for spec in 'xz:\xfd7zXZ\x00' 'zstd:\x28\xb5\x2f\xfd' 'gzip:\x1f\x8b\x08' 'lz4:\x02\x21\x4c\x18'; do
		tool=${spec%%:*}
		magic=${spec#*:}
		command -v "$tool" >/dev/null || continue
		for off in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1); do
			tail -c+$((off + 1)) "$img" | "$tool" -dc >"$out" 2>/dev/null || true
			[[ $(head -c4 "$out" | od -An -c | tr -d ' ') == 177ELF ]] && return 0
		done
	done
	return 1
}

build_image() {
	local tmp k kver bb mods m ko out
	tmp=$(mktemp -d "$CACHE/build.XXXXXX")
	note "building kernel + initramfs for $KPKG=$KVER in $IMG"
	k=$tmp/kernel
	dpkg-deb -x "$(deb_path "$KPKG" "$KVER")" "$k"
	dpkg-deb -x "$(deb_path busybox-static "$BBVER")" "$tmp/bb"
	kver=$(ls "$k/lib/modules" | head -n1)
	[[ -n $kver ]] || { rm -rf "$tmp"; return 1; }
	local vmlinuz=$k/boot/vmlinuz-$kver
	# TCG decompresses the kernel slowly: boot the uncompressed ELF (its PVH
	# entry point lets QEMU's -kernel load it directly). Fall back to vmlinuz.
	if extract_vmlinux "$vmlinuz" "$tmp/vmlinux"; then
		out=vmlinux
	else
		note "could not extract an uncompressed vmlinux; booting the compressed vmlinuz (slower)"
		cp "$vmlinuz" "$tmp/vmlinux"
	fi

	local root=$tmp/initramfs
	mkdir -p "$root/bin" "$root/lib/modules"
	bb=$root/bin/busybox
	cp "$tmp/bb/bin/busybox" "$bb"
	cp "$HERE/init.sh" "$root/init"
	chmod 755 "$root/init" "$bb"

	# Modules for virtio-pci + 9p, dependencies first (read from each .ko's
	# modinfo "depends=", so this follows whatever the kernel version needs).
	local -A seen=()
	: >"$root/modules.order"
	add_mod() {
		local name=$1 f dep
		[[ -n ${seen[$name]:-} ]] && return 0
		seen[$name]=1
		if grep -qE "/${name//_/[_-]}\.ko$" "$k/lib/modules/$kver/modules.builtin" 2>/dev/null; then return 0; fi
		f=$(find "$k/lib/modules/$kver/kernel" \( -name "$name.ko*" -o -name "${name//_/-}.ko*" \) | head -n1)
		[[ -n $f ]] || { note "kernel module $name not found in $KPKG"; return 1; }
		for dep in $(tr '\0' '\n' <"$f" 2>/dev/null | sed -n 's/^depends=//p' | head -n1 | tr ',' ' '); do
			add_mod "$dep" || return 1
		done
		# The xz/zstd-compressed module files of other kernels: busybox insmod wants plain .ko.
		case $f in
		*.ko.xz) xz -dc "$f" >"$root/lib/modules/$name.ko" ;;
		*.ko.zst) zstd -qdc "$f" >"$root/lib/modules/$name.ko" ;;
		*.ko.gz) gzip -dc "$f" >"$root/lib/modules/$name.ko" ;;
		*) cp "$f" "$root/lib/modules/$name.ko" ;;
		esac
		echo "$name.ko" >>"$root/modules.order"
	}
	for m in virtio_pci 9pnet_virtio 9p; do
		add_mod "$m" || { rm -rf "$tmp"; return 1; }
	done
	(cd "$root" && find . | LC_ALL=C sort | "$bb" cpio -o -H newc -R 0:0 >"$tmp/initramfs.cpio" 2>/dev/null)
	echo "$KPKG=$KVER busybox-static=$BBVER modules: $(tr '\n' ' ' <"$root/modules.order")" >"$tmp/info"
	mkdir -p "$tmp/out"
	mv "$tmp/vmlinux" "$tmp/initramfs.cpio" "$tmp/info" "$tmp/out/"
	rm -rf "$IMG"
	mv "$tmp/out" "$IMG"
	rm -rf "$tmp"
	# Drop images built from other inputs.
	find "$CACHE" -maxdepth 1 -name 'img-*' ! -name "img-$KEY" -exec rm -rf {} +
}

(
	flock 9
	[[ -s $IMG/vmlinux && -s $IMG/initramfs.cpio ]] || build_image
) 9>"$CACHE/.lock" || die "could not build the VM kernel/initramfs from $KPKG=$KVER (see messages above)"

# --------------------------------------------------------------------- run
CWD=$(pwd -P)
RUN=$(mktemp -d "${TMPDIR:-/tmp}/cgroup2-vm.XXXXXX")
CTL=$RUN/ctl
mkdir -p "$CTL"
QPID=
cleanup() {
	if [[ -n $QPID ]] && kill -0 "$QPID" 2>/dev/null; then
		kill "$QPID" 2>/dev/null || true
		sleep 1
		kill -9 "$QPID" 2>/dev/null || true
	fi
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The command, run by the host's /bin/bash inside the VM (chrooted into the
# 9p view of the host's /).
{
	echo '#!/bin/bash'
	for v in "${PASS_ENV[@]}"; do
		[[ -n ${!v+x} ]] && printf 'export %s=%q\n' "$v" "${!v}"
	done
	for e in "${EXTRA_ENV[@]}"; do
		if [[ $e == *=* ]]; then printf 'export %s=%q\n' "${e%%=*}" "${e#*=}"
		elif [[ -n ${!e+x} ]]; then printf 'export %s=%q\n' "$e" "${!e}"; fi
	done
	[[ -n ${PATH+x} ]] || echo 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
	echo 'export CGROUP2_VM=1'
	printf 'cd -- %q || { echo "cgroup2-vm: cannot cd to %q inside the VM" >&2; exit 125; }\n' "$CWD" "$CWD"
	printf 'exec'
	printf ' %q' "$@"
	echo
} >"$CTL/cmd.sh"

# Read-write 9p shares: the project, then -w folders.
i=0
QEMU_RW=()
: >"$CTL/mounts"
for d in "$PROJECT" "${RW_DIRS[@]}"; do
	[[ $d != *$'\n'* ]] || die "folder name with a newline: $d"
	echo "rw$i $d" >>"$CTL/mounts"
	QEMU_RW+=(-fsdev "local,id=rw$i,path=$d,security_model=passthrough,multidevs=remap"
		-device "virtio-9p-pci,fsdev=rw$i,mount_tag=rw$i")
	i=$((i + 1))
done
[[ -z $CGROUP ]] || echo "$CGROUP" >"$CTL/cgroup"

LOGLEVEL="loglevel=3"
((DEBUG)) && LOGLEVEL="loglevel=7 earlyprintk=ttyS0"
CONSOLE=$RUN/console.log
QEMU=(qemu-system-x86_64
	-nodefaults -no-user-config -display none -vga none -monitor none -no-reboot
	-machine q35 -accel tcg,thread=multi -cpu "${CGROUP2_VM_CPU_MODEL:-max}" -smp "$CPUS" -m "$MEM"
	-kernel "$IMG/vmlinux" -initrd "$IMG/initramfs.cpio"
	-append "console=ttyS0 $LOGLEVEL panic=1 rdinit=/init cgroup_no_v1=all mitigations=off random.trust_cpu=on"
	-serial "file:$CONSOLE"
	-chardev stdio,id=out,signal=off -serial chardev:out
	-fsdev "local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap"
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
	-fsdev "local,id=ctl,path=$CTL,security_model=passthrough"
	-device virtio-9p-pci,fsdev=ctl,mount_tag=ctl
	"${QEMU_RW[@]}"
	-nic none)

START=$SECONDS
# timeout(1): a hung VM must not hang CI (exit 124, then SIGKILL 10 s later).
timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null 2>"$RUN/qemu.err" &
QPID=$!
QRC=0
wait "$QPID" || QRC=$?
QPID=
if ((DEBUG)); then
	echo "--- kernel console:" >&2
	cat "$CONSOLE" >&2 2>/dev/null || true
fi

show_console() {
	if [[ -s $RUN/qemu.err ]]; then
		echo "--- qemu stderr:" >&2
		tail -n 20 "$RUN/qemu.err" >&2
	fi
	echo "--- last kernel console lines:" >&2
	tail -n 40 "$CONSOLE" >&2 2>/dev/null || true
	((DEBUG)) || echo "--- (rerun with CGROUP2_VM_DEBUG=1 for the full kernel log)" >&2
}

if ((QRC == 124)); then
	note "TIMEOUT: the VM was killed after ${TIMEOUT}s (CGROUP2_VM_TIMEOUT / -t)"
	show_console
	exit 124
fi
STATUS=$(cat "$CTL/status" 2>/dev/null || true)
if [[ $STATUS =~ ^[0-9]+$ ]]; then
	((DEBUG)) && note "VM ran $((SECONDS - START))s, command exit status $STATUS"
	exit "$STATUS"
fi
if [[ -n $STATUS ]]; then
	note "VM setup failed: $STATUS"
else
	note "VM BOOT FAILED: qemu exited ($QRC) without reporting the command's exit status"
fi
show_console
exit 125
