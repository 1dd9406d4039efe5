// @ts-check
// The mount table, as /proc/<pid>/mountinfo gives it: the one parser every part of the
// project uses (the stages, their tests, the rootfs tool and `npm run doctor`).
// Plain JavaScript, typed with JSDoc: the doctor loads it before anything is installed.
// https://man7.org/linux/man-pages/man5/proc_pid_mountinfo.5.html
'use strict';

const fs = require('fs');

/**
 * One mount. Paths are unescaped: the kernel writes a space, tab, newline or backslash
 * in them as an octal escape (`\040`).
 * @typedef {{
 *   id: number,
 *   parent: number,
 *   root: string,
 *   mountPoint: string,
 *   options: string,
 *   fsType: string,
 *   source: string,
 *   superOptions: string,
 * }} Mount
 */

/** @param {string} field */
function unescape(field) {
  return field.replace(/\\([0-7]{3})/g, function (_, octal) {
    return String.fromCharCode(parseInt(octal, 8));
  });
}

/**
 * Parses the text of a mountinfo file: "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw".
 * The optional fields before " - " vary in number.
 * @param {string} text
 * @returns {Mount[]}
 */
function parseMountinfo(text) {
  return text
    .split('\n')
    .filter(Boolean)
    .map(function (line) {
      const fields = line.split(' ');
      const dash = fields.indexOf('-');
      return {
        id: Number(fields[0]),
        parent: Number(fields[1]),
        root: unescape(fields[3] || ''),
        mountPoint: unescape(fields[4] || ''),
        options: fields[5] || '',
        fsType: fields[dash + 1] || '',
        source: unescape(fields[dash + 2] || ''),
        superOptions: fields[dash + 3] || '',
      };
    });
}

/**
 * The mounts a process sees (default: this one).
 * @param {number | 'self'} [pid]
 * @returns {Mount[]}
 */
function readMountinfo(pid) {
  return parseMountinfo(fs.readFileSync('/proc/' + (pid || 'self') + '/mountinfo', 'utf8'));
}

/**
 * The mounts at `dir` or below it, in the order they were mounted.
 * @param {string} dir an absolute path without a trailing slash
 * @param {Mount[]} [mounts]
 * @returns {Mount[]}
 */
function mountsUnder(dir, mounts) {
  return (mounts || readMountinfo()).filter(function (mount) {
    return mount.mountPoint === dir || mount.mountPoint.startsWith(dir === '/' ? '/' : dir + '/');
  });
}

/**
 * The mount points at `dir` or below it, in the order they were mounted.
 * @param {string} dir an absolute path without a trailing slash
 * @param {Mount[]} [mounts]
 * @returns {string[]}
 */
function mountPointsUnder(dir, mounts) {
  return mountsUnder(dir, mounts).map(function (mount) {
    return mount.mountPoint;
  });
}

/**
 * Whether something is mounted on `dir` itself.
 * @param {string} dir
 * @param {Mount[]} [mounts]
 */
function isMountPoint(dir, mounts) {
  return (mounts || readMountinfo()).some(function (mount) {
    return mount.mountPoint === dir;
  });
}

module.exports = {
  parseMountinfo: parseMountinfo,
  readMountinfo: readMountinfo,
  mountsUnder: mountsUnder,
  mountPointsUnder: mountPointsUnder,
  isMountPoint: isMountPoint,
};
