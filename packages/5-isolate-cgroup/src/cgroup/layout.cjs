// @ts-check
// Which cgroup layout this machine has. Plain JavaScript: `npm run doctor` loads it
// before anything is installed, and stage 5 loads the same file.
'use strict';

// By path, not by package name: before `pnpm install` there is no node_modules.
const { readMountinfo } = require('../../../runtime/src/mountinfo.cjs');

/**
 * 'v2' (one unified tree at /sys/fs/cgroup), 'hybrid' (v1 controllers, plus an empty
 * cgroup2 tree at /sys/fs/cgroup/unified), 'v1', or undefined when none is mounted.
 * @param {string} [root]
 * @returns {'v2' | 'v1' | 'hybrid' | undefined}
 */
function cgroupLayout(root) {
  const top = root || '/sys/fs/cgroup';
  /** @type {Map<string, string>} */
  const types = new Map();
  for (const mount of readMountinfo()) types.set(mount.mountPoint, mount.fsType);
  if (types.get(top) === 'cgroup2') return 'v2';
  const v1 = Array.from(types.values()).indexOf('cgroup') !== -1;
  if (!v1) return undefined;
  return types.get(top + '/unified') === 'cgroup2' ? 'hybrid' : 'v1';
}

module.exports = { cgroupLayout: cgroupLayout };
