// Layered images: an OCI image layout (image-spec's image-layout.md: oci-layout,
// index.json, blobs/sha256/...), as a folder or a tarball, and the tarball `docker save`
// writes (manifest.json; Docker 25 and later write an OCI layout beside it). Nothing is
// fetched: the image is what the file holds.
//
// The steps: find the manifest for this machine's architecture; read its config; then
// each layer, bottom first, is streamed from the file, through sha256 (the blob's
// digest), a decompressor, sha256 again (the DiffID the config lists), into the
// extractor (unpack.ts), which makes it a folder of its own, whiteouts turned into
// overlayfs's own.
// A layer already stored (same DiffID) is not read at all. Layers are renamed into the
// store only once every one of them matched its digests; on any failure nothing is left.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, type Readable, Transform, pipeline } from 'node:stream';
import zlib from 'node:zlib';
import { CliError } from '@samples/runtime';
import { CHUNK, type ImageSource, compressionOf, safeName } from './archive';
import { type ImageConfig, type ImageRecord, discardTree, finishTree, startTree } from './images';
import { type Interruption, unpack } from './unpack';
import { TarFormatError } from './untar';
import { isLayerDigest, layerFolder, storedLayer } from './layers';

export interface ImportedImage {
  readonly format: ImageRecord['format'];
  readonly platform: string;
  readonly layers: number;
  /** Layers read from the file; the others were stored already. */
  readonly newLayers: number;
  /** Images for this platform the file also holds, not imported (the first one is). */
  readonly others: number;
  readonly files: number;
  readonly bytes: number;
  readonly skipped: number;
}

// #region platform
/** This machine as OCI names platforms (image-spec config.md: GOARCH values). */
export function hostPlatform(): { os: string; architecture: string } {
  const architectures: Partial<Record<string, string>> = {
    x64: 'amd64',
    arm64: 'arm64',
    arm: 'arm',
    ia32: '386',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips64el: 'mips64le',
  };
  return { os: 'linux', architecture: architectures[process.arch] ?? process.arch };
}
// #endregion

const MediaTypes = {
  OCI_INDEX: 'application/vnd.oci.image.index.v1+json',
  DOCKER_MANIFEST_LIST: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

interface Platform {
  readonly os?: string;
  readonly architecture?: string;
  readonly variant?: string;
}

interface Descriptor {
  readonly mediaType?: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: Platform;
}

interface Config extends Platform {
  readonly config?: ImageConfig;
  readonly rootfs?: { readonly type?: string; readonly diff_ids?: readonly string[] };
}

/** One layer to store: where its bytes are in the file, and the digests they must have. */
interface LayerSource {
  readonly name: string;
  /** The compressed blob's digest and size, when the file names them (OCI, docker save 25+). */
  readonly blob?: { readonly digest: string; readonly size?: number };
  /** The uncompressed tar's digest, from the config: the layer's name in the store. */
  readonly diffId: string;
}

interface FoundImage {
  readonly format: ImageRecord['format'];
  readonly config: Config;
  readonly layers: readonly LayerSource[];
  readonly others: number;
}

/**
 * Imports the image in `source` as `name` (its record goes to `target`). Throws CliError
 * with one line for anything wrong with the file; nothing is registered then.
 */
export async function importImage(source: ImageSource, name: string, target: string, interruption: Interruption): Promise<ImportedImage> {
  const image = findImage(source);
  const made: { partial: string; digest: string }[] = [];
  try {
    const layers: ImageRecord['layers'][number][] = [];
    let skipped = 0;
    for (const [index, layer] of image.layers.entries()) {
      interruption.check();
      const stored = storedLayer(layer.diffId) ?? layers.find((earlier) => earlier.digest === layer.diffId);
      if (stored !== undefined) {
        // Stored before, or twice in this image (two steps that changed the same nothing).
        layers.push({ digest: layer.diffId, files: stored.files, bytes: stored.bytes });
        continue;
      }
      const partial = startTree(layerFolder(layer.diffId));
      made.push({ partial, digest: layer.diffId });
      const extracted = await extractLayer(source, layer, partial, `${source.file} (layer ${index + 1})`, interruption);
      skipped += extracted.skipped;
      layers.push({ digest: layer.diffId, files: extracted.files, bytes: extracted.bytes });
    }
    // Every layer matched its digests: into the store with them, then the image.
    const created = new Date().toISOString();
    const newLayers = made.length;
    for (const { partial, digest } of made) {
      const { files, bytes } = layers.find((layer) => layer.digest === digest)!;
      // false: should another import have stored the same layer meanwhile, its copy stays.
      finishTree(partial, layerFolder(digest), { name: digest, source: `a layer of ${source.file}`, created, files, bytes }, false);
    }
    made.length = 0;
    const platform = [image.config.os, image.config.architecture, image.config.variant].filter(Boolean).join('/');
    const record: ImageRecord = { format: image.format, platform, layers, config: pickConfig(image.config.config) };
    const files = layers.reduce((sum, layer) => sum + layer.files, 0);
    const bytes = layers.reduce((sum, layer) => sum + layer.bytes, 0);
    const tree = startTree(target);
    const marker = { name, source: `imported from ${path.resolve(source.file)}`, created, files, bytes, image: record };
    if (!finishTree(tree, target, marker, false)) {
      throw new CliError(`a root filesystem named "${name}" appeared while importing: remove it first (pnpm rootfs remove ${name}), or choose another name`);
    }
    return { format: image.format, platform, layers: layers.length, newLayers, others: image.others, files, bytes, skipped };
  } finally {
    for (const { partial } of made) discardTree(partial);
  }
}

/** Keeps the fields the runtime uses, and only when they have the types config.md gives them. */
function pickConfig(config: ImageConfig | undefined): ImageConfig {
  const strings = (value: unknown) => (Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : undefined);
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const picked = {
    Env: strings(config?.Env),
    Entrypoint: strings(config?.Entrypoint),
    Cmd: strings(config?.Cmd),
    WorkingDir: text(config?.WorkingDir),
    User: text(config?.User),
  };
  return Object.fromEntries(Object.entries(picked).filter(([, value]) => value !== undefined)) as ImageConfig;
}

// #region find
/** Finds the image for this machine in the file: its config, and its layers bottom first. */
function findImage(source: ImageSource): FoundImage {
  // Docker 25+ writes both: the OCI index carries digests and sizes, so it wins.
  if (source.has('index.json')) return fromOciLayout(source);
  if (source.has('manifest.json')) return fromDockerSave(source);
  throw new CliError(
    `${source.file} is neither a root filesystem nor an image: it has image files (oci-layout, blobs/...) but no index.json or manifest.json; nothing was imported`,
  );
}

function fromOciLayout(source: ImageSource): FoundImage {
  const index = readJson(source, 'index.json', 'index.json') as { manifests?: Descriptor[] };
  const candidates: Descriptor[] = [];
  // An index may list indexes (one per tag, or a multi-platform one): walk them all.
  const walk = (manifests: unknown, depth: number) => {
    if (!Array.isArray(manifests) || depth > 4) throw damaged(source, 'an index has no manifests list');
    for (const descriptor of manifests as Descriptor[]) {
      checkDescriptor(source, descriptor);
      const mediaType = descriptor.mediaType;
      if (mediaType === MediaTypes.OCI_INDEX || mediaType === MediaTypes.DOCKER_MANIFEST_LIST) {
        walk((readBlobJson(source, descriptor, 'an index') as { manifests?: unknown }).manifests, depth + 1);
      } else candidates.push(descriptor);
    }
  };
  walk(index.manifests, 0);
  const host = hostPlatform();
  const platforms: string[] = [];
  const matching = candidates.flatMap((descriptor) => {
    // An index entry may say the platform; otherwise the config does. Attestations say unknown/unknown.
    let platform = descriptor.platform;
    let manifest: { config?: Descriptor; layers?: Descriptor[] } | undefined;
    let config: Config | undefined;
    if (platform === undefined) {
      manifest = readBlobJson(source, descriptor, 'a manifest') as typeof manifest;
      if (manifest?.config === undefined) return [];
      config = readBlobJson(source, manifest.config, 'a config') as Config;
      platform = config;
    }
    if (platform.os === 'unknown') return [];
    platforms.push(`${platform.os}/${platform.architecture}`);
    return platform.os === host.os && platform.architecture === host.architecture ? [{ descriptor, manifest, config }] : [];
  });
  const [chosen] = matching;
  if (chosen === undefined) throw otherPlatform(source, platforms);
  const manifest = chosen.manifest ?? (readBlobJson(source, chosen.descriptor, 'the manifest') as { config?: Descriptor; layers?: Descriptor[] });
  if (manifest.config === undefined || !Array.isArray(manifest.layers)) throw damaged(source, 'the manifest has no config or no layers');
  const config = chosen.config ?? (readBlobJson(source, manifest.config, 'the config') as Config);
  const diffIds = checkDiffIds(source, config, manifest.layers.length);
  const layers = manifest.layers.map((descriptor, index) => {
    checkDescriptor(source, descriptor);
    if (/encrypted/.test(descriptor.mediaType ?? '')) throw new CliError(`${source.file}: layer ${descriptor.digest} is encrypted, which this import cannot read; nothing was imported`);
    return { name: blobName(descriptor.digest), blob: { digest: descriptor.digest, size: descriptor.size }, diffId: diffIds[index]! };
  });
  return { format: 'oci-layout', config, layers, others: matching.length - 1 };
}

function fromDockerSave(source: ImageSource): FoundImage {
  const entries = readJson(source, 'manifest.json', 'manifest.json');
  if (!Array.isArray(entries) || entries.length === 0) throw damaged(source, 'manifest.json lists no image');
  const host = hostPlatform();
  const platforms: string[] = [];
  const matching = (entries as { Config?: unknown; Layers?: unknown }[]).flatMap((entry) => {
    if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers) || !entry.Layers.every((layer) => typeof layer === 'string')) {
      throw damaged(source, 'an entry of manifest.json has no Config or Layers');
    }
    // The config's file name is its digest: <hex>.json (before Docker 25) or blobs/sha256/<hex>.
    const config = readJsonNamed(source, entry.Config, 'the config') as Config;
    platforms.push(`${config.os}/${config.architecture}`);
    return config.os === host.os && config.architecture === host.architecture ? [{ config, layers: entry.Layers }] : [];
  });
  const [chosen] = matching;
  if (chosen === undefined) throw otherPlatform(source, platforms);
  const diffIds = checkDiffIds(source, chosen.config, chosen.layers.length);
  const layers = chosen.layers.map((name, index) => {
    const [, hex] = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(safeName(name) ?? '') ?? [];
    // Before Docker 25, <id>/layer.tar: the id is no digest; the DiffID checks the content.
    return { name, ...(hex !== undefined && { blob: { digest: `sha256:${hex}` } }), diffId: diffIds[index]! };
  });
  return { format: 'docker-save', config: chosen.config, layers, others: matching.length - 1 };
}
// #endregion

// #region read
/** A blob's place in the layout: blobs/<algorithm>/<encoded>. */
function blobName(digest: string): string {
  return `blobs/${digest.replace(':', '/')}`;
}

function checkDescriptor(source: ImageSource, descriptor: Descriptor): void {
  if (typeof descriptor?.digest !== 'string' || !isLayerDigest(descriptor.digest) || typeof descriptor.size !== 'number') {
    throw damaged(source, `a descriptor has no sha256 digest or no size (${JSON.stringify(descriptor?.digest ?? null)})`);
  }
}

function checkDiffIds(source: ImageSource, config: Config, layers: number): readonly string[] {
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== layers || !diffIds.every((id) => typeof id === 'string' && isLayerDigest(id))) {
    throw damaged(source, `the config lists ${Array.isArray(diffIds) ? diffIds.length : 'no'} layer digests (rootfs.diff_ids) for ${layers} layers`);
  }
  return diffIds;
}

/** The JSON files an image holds are small; anything larger is not one. */
const MAX_JSON = 4 << 20;

function readJson(source: ImageSource, name: string, what: string): unknown {
  if (!source.has(name)) throw damaged(source, `${what} is missing`);
  if (source.size(name) > MAX_JSON) throw damaged(source, `${what} is larger than ${MAX_JSON >> 20} MiB`);
  return parse(source, readAll(source, name), what);
}

/** A blob named by a descriptor: it must be there, have the size and the digest the descriptor says. */
function readBlobJson(source: ImageSource, descriptor: Descriptor, what: string): unknown {
  checkDescriptor(source, descriptor);
  const name = blobName(descriptor.digest);
  if (!source.has(name)) throw missing(source, what, descriptor.digest);
  if (descriptor.size > MAX_JSON || source.size(name) !== descriptor.size) throw mismatch(source, what, descriptor.digest, `${source.size(name)} bytes, not ${descriptor.size}`);
  const data = readAll(source, name);
  const actual = `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
  if (actual !== descriptor.digest) throw mismatch(source, what, descriptor.digest, actual);
  return parse(source, data, what);
}

/** docker save's config, whose name is its digest: checked when the name says one. */
function readJsonNamed(source: ImageSource, name: string, what: string): unknown {
  const safe = safeName(name);
  if (safe === undefined) throw damaged(source, `manifest.json names "${name}", outside the image`);
  if (!source.has(safe)) throw missing(source, what, safe);
  const data = readAll(source, safe);
  const [, hex] = /(?:^|\/)([0-9a-f]{64})(?:\.json)?$/.exec(safe) ?? [];
  const actual = crypto.createHash('sha256').update(data).digest('hex');
  if (hex !== undefined && actual !== hex) throw mismatch(source, what, `sha256:${hex}`, `sha256:${actual}`);
  return parse(source, data, what);
}

function readAll(source: ImageSource, name: string): Buffer {
  if (source.size(name) > MAX_JSON) throw damaged(source, `${name} is larger than ${MAX_JSON >> 20} MiB`);
  return source.head(name, source.size(name));
}

function parse(source: ImageSource, data: Buffer, what: string): unknown {
  try {
    return JSON.parse(data.toString('utf8'));
  } catch {
    throw damaged(source, `${what} is not JSON`);
  }
}
// #endregion

// #region layer
/**
 * Streams one layer into `partial`/diff: blob bytes -> sha256 -> decompress -> sha256 ->
 * the extractor. The digests are known only once the last byte went through: a mismatch then
 * fails the import, and the caller drops the folder.
 */
async function extractLayer(source: ImageSource, layer: LayerSource, partial: string, label: string, interruption: Interruption) {
  if (!source.has(layer.name)) throw missing(source, 'a layer', layer.blob?.digest ?? layer.name);
  const tree = path.join(partial, 'diff');
  fs.mkdirSync(tree);
  fs.chmodSync(tree, 0o755);
  const compression = compressionOf(source.head(layer.name, 6));
  const blob = digester();
  const diff = digester();
  const output = new PassThrough();
  const streams: (Readable | Transform)[] = [source.stream(layer.name), blob.stream, ...decompressor(source, layer, compression), diff.stream, output];
  const flowed = new Promise<void>((resolve, reject) =>
    pipeline(streams as unknown as [Readable, ...Transform[]], (error) => (error ? reject(error) : resolve())),
  );
  // Whichever fails first is the one to report; the other then fails too (premature close).
  flowed.catch(() => {});
  const stopAll = (error: Error) => {
    for (const stream of streams) stream.destroy(error);
  };
  let unpacked: Awaited<ReturnType<typeof unpack>>;
  try {
    unpacked = await unpack(output, tree, label, {
      layer: true,
      onStart: (stop) =>
        interruption.onStart((error) => {
          stopAll(error);
          stop(error);
        }),
    });
    await flowed;
  } catch (error) {
    stopAll(error as Error);
    const { code } = error as NodeJS.ErrnoException;
    const what = layer.blob?.digest ?? layer.name;
    // zlib's words for damaged compressed data.
    if (code?.startsWith('Z_')) throw damaged(source, `layer ${what} is not valid ${compression} data`);
    if (error instanceof TarFormatError) throw damaged(source, `layer ${what} is not a valid tar`);
    throw error;
  }
  if (layer.blob !== undefined) {
    if (blob.digest() !== layer.blob.digest) throw mismatch(source, 'a layer', layer.blob.digest, blob.digest());
    if (layer.blob.size !== undefined && blob.bytes() !== layer.blob.size) throw mismatch(source, 'a layer', layer.blob.digest, `${blob.bytes()} bytes, not ${layer.blob.size}`);
  }
  if (diff.digest() !== layer.diffId) throw mismatch(source, 'a layer, uncompressed,', layer.diffId, diff.digest());
  unpacked.whiteouts.apply(tree);
  return unpacked;
}

/** The decompressing stream for a layer, by its magic bytes (media types lie more often). */
function decompressor(source: ImageSource, layer: LayerSource, compression: string): Transform[] {
  const digest = layer.blob?.digest ?? layer.name;
  switch (compression) {
    case 'gzip':
      return [zlib.createGunzip({ chunkSize: CHUNK })];
    case 'zstd': {
      // zlib has zstd from Node 22.15 and 23.8 on; this project runs on Node 20 too.
      const createZstdDecompress = (zlib as { createZstdDecompress?: () => Transform }).createZstdDecompress;
      if (createZstdDecompress === undefined) {
        throw new CliError(
          `${source.file}: layer ${digest} is zstd-compressed, which Node ${process.version} cannot decompress (Node 22.15 or later can): run the import with a newer Node, or save the image with gzip layers; nothing was imported`,
        );
      }
      return [createZstdDecompress()];
    }
    case 'none':
      return [];
    default:
      throw new CliError(`${source.file}: layer ${digest} is ${compression}-compressed, which OCI layers never are; nothing was imported`);
  }
}

/** A pass-through stream that hashes what goes through it. */
function digester() {
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  let digest: string | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  return { stream, bytes: () => bytes, digest: () => (digest ??= `sha256:${hash.digest('hex')}`) };
}
// #endregion

// #region errors
function damaged(source: ImageSource, what: string): CliError {
  return new CliError(`${source.file} is not a valid image: ${what}; nothing was imported`);
}

function missing(source: ImageSource, what: string, digest: string): CliError {
  return new CliError(`${source.file}: the image names ${what} ${digest}, which is not in the file: it is incomplete; nothing was imported`);
}

function mismatch(source: ImageSource, what: string, digest: string, actual: string): CliError {
  return new CliError(`${source.file}: ${what} ${digest} does not match its digest (got ${actual}): the file is damaged; nothing was imported`);
}

function otherPlatform(source: ImageSource, platforms: string[]): CliError {
  const host = hostPlatform();
  const found = [...new Set(platforms)].join(', ') || 'no platform';
  return new CliError(
    `${source.file} holds an image for ${found}, not for this machine's ${host.os}/${host.architecture}: save one made for ${host.architecture} (docker pull --platform ${host.os}/${host.architecture}, then docker save); nothing was imported`,
  );
}
// #endregion
