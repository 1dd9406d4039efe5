// @samples/runtime: what every stage shares that is not libc. The command line
// (options, the step trace, exit statuses, one line per failure), spawning a child in
// new namespaces, exec done right, and re-executing itself as the container's child.
export * from './cli';
export { formatBytes } from './format';
export { isMountPoint, mountPointsUnder, mountsUnder, parseMountinfo, readMountinfo, type Mount } from './mountinfo.cjs';
export { cloneFlagNames, exec, exitNow, findExecutable, spawnInNamespaces, withNamespace } from './process';
export { randomBytes } from './random';
export { bundle, selfCommand } from './reexec';
export * from './leases';
