// @samples/rootfs: the root filesystems the containers of stages 3 to 5 run in.
export { buildDefaultRootfs } from './build';
export { checkRootfs, type CommandLookup, CONTAINER_PATH, lookUpCommand, REQUIRED_FOLDERS, type Problem, TOP_FOLDERS } from './check';
export { DEFAULT_NAME, imagesDir, listRootfs, MARKER, type Marker, removeRootfs, type RootfsEntry } from './images';
export { importRootfs, type ImportResult } from './import';
export { requireCommand, resolveRootfs, rootfsOption } from './resolve';
