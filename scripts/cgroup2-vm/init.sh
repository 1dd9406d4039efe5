#!/bin/busybox sh
# PID 1 of the cgroup2 test VM (runs from the initramfs built by run.sh).
#
# Mounts the host's / read-only (9p tag "hostroot") at /newroot, the per-run
# control folder (tag "ctl") and the read-write shares listed in ctl/mounts,
# sets up /proc, /sys, /dev, /tmp, /run and cgroup2 inside /newroot, enables
# +memory +pids +cpu in the root cgroup's subtree_control, then runs
# ctl/cmd.sh chrooted into /newroot. The command's stdout+stderr go to the
# second serial port (ttyS1 = the host's stdout); its exit status is written
# to ctl/status. Kernel messages go to ttyS0 (a log file on the host).
#
# The command stays in the ROOT cgroup (0::/) unless ctl/cgroup names one.

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /proc /sys /dev /newroot /ctl
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

OUT=/dev/ttyS1
stty -F "$OUT" raw -echo 115200 2>/dev/null

say() { echo "cgroup2-vm(guest): $*" >"$OUT"; echo "cgroup2-vm(guest): $*" >/dev/ttyS0; }
die() {
	say "FATAL: $*"
	[ -d /ctl ] && echo "guest-setup-failed: $*" >/ctl/status 2>/dev/null
	sync
	poweroff -f
	sleep 5
	reboot -f
}

# Modules needed for virtio-pci + 9p, in dependency order (written by run.sh).
while read -r ko; do
	[ -n "$ko" ] || continue
	insmod "/lib/modules/$ko" || die "insmod $ko failed"
done </modules.order

NINEP="trans=virtio,version=9p2000.L,msize=512000"
mount -t 9p -o "$NINEP,cache=mmap" ctl /ctl || die "cannot mount the control share"
mount -t 9p -o "$NINEP,ro,cache=loose" hostroot /newroot || die "cannot mount the host root over 9p"

R=/newroot
mount -t proc proc $R/proc || die "mount /proc"
mount -t sysfs sysfs $R/sys || die "mount /sys"
mount -t devtmpfs devtmpfs $R/dev || die "mount /dev"
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
ln -sf /proc/self/fd $R/dev/fd
ln -sf /proc/self/fd/0 $R/dev/stdin
ln -sf /proc/self/fd/1 $R/dev/stdout
ln -sf /proc/self/fd/2 $R/dev/stderr
mount -t tmpfs -o mode=1777 tmpfs $R/tmp || die "mount /tmp"
mount -t tmpfs -o mode=755 tmpfs $R/run || die "mount /run"
mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup || die "mount cgroup2"
echo "+memory +pids +cpu" >$R/sys/fs/cgroup/cgroup.subtree_control ||
	die "cannot enable +memory +pids +cpu (available: $(cat $R/sys/fs/cgroup/cgroup.controllers))"

mkdir -p $R/run/cgroup2-vm
mount --bind /ctl $R/run/cgroup2-vm || die "bind the control share"

# Read-write shares: "<tag> <path>" per line. Paths under /tmp (tmpfs here)
# are created; others must exist on the host (they do: run.sh shares them).
while read -r tag path; do
	[ -n "$tag" ] || continue
	mkdir -p "$R$path" 2>/dev/null
	mount -t 9p -o "$NINEP,cache=loose" "$tag" "$R$path" || die "cannot mount $path read-write"
done </ctl/mounts

ip link set lo up 2>/dev/null

CG=
if [ -s /ctl/cgroup ]; then
	read -r CG </ctl/cgroup
	mkdir -p "$R/sys/fs/cgroup$CG" || die "cannot create cgroup $CG"
fi

# The command's output goes through a fifo so that its stdout/stderr are a
# pipe (as in CI), not a tty. stdin is /dev/null.
mkfifo /out.fifo
cat /out.fifo >"$OUT" &
CATPID=$!
(
	# Only this subshell (and so the command) joins $CG; PID 1 stays in /.
	if [ -n "$CG" ]; then
		echo 0 >"$R/sys/fs/cgroup$CG/cgroup.procs" || { echo "cgroup2-vm(guest): cannot join cgroup $CG"; exit 125; }
	fi
	exec env -i chroot $R /bin/bash /run/cgroup2-vm/cmd.sh
) </dev/null >/out.fifo 2>&1
STATUS=$?
# Wait for the output to drain (a leftover background process that keeps the
# pipe open must not hang the VM: give it 5 s).
n=0
while kill -0 $CATPID 2>/dev/null && [ $n -lt 50 ]; do usleep 100000; n=$((n + 1)); done
kill $CATPID 2>/dev/null

echo "$STATUS" >/ctl/status
sync
# Unmount the read-write shares so that everything reaches the host.
while read -r tag path; do
	[ -n "$tag" ] && umount "$R$path" 2>/dev/null
done </ctl/mounts
umount $R/run/cgroup2-vm 2>/dev/null
umount /ctl 2>/dev/null
sync
poweroff -f
sleep 5
reboot -f
