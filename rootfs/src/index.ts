// @samples/rootfs: the root filesystems the containers of stages 3 to 5 run in.
export { buildDefaultRootfs } from './build';
export { checkRootfs, type CommandLookup, CONTAINER_PATH, lookUpCommand, type Problem, REQUIRED_FOLDERS, TOP_FOLDERS } from './check';
export {
  containersDir,
  DEFAULT_NAME,
  type ImageConfig,
  type ImageRecord,
  imagesDir,
  layersDir,
  layersInUse,
  listRootfs,
  MARKER,
  type Marker,
  removeRootfs,
  type RootfsEntry,
} from './images';
export { importRootfs, type ImportResult } from './import';
export { layerTree, listLayers, mountPointsLayer, removeUnusedLayers, type StoredLayer } from './layers';
export { hostPlatform } from './oci';
export { requireCommand, type ResolvedImage, resolveImage, resolveRootfs, rootfsOption } from './resolve';
