// Layered images made by the tests themselves, with node-tar: the layers' tars, then an
// OCI image layout (folder or tarball) or a `docker save` tarball around them. Nothing is
// fetched; the files are exactly what the spec says they are, so a test can also break
// them on purpose (a wrong digest, a missing blob, another architecture).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { create } from 'tar';
import { tarball, tarEntry } from './helpers';

export { tarEntry };

export interface Layer {
  /** The uncompressed tar. */
  readonly tar: Buffer;
  /** sha256 of the uncompressed tar: what the config lists in rootfs.diff_ids. */
  readonly diffId: string;
}

export function sha256(data: Buffer): string {
  return `sha256:${crypto.createHash('sha256').update(data).digest('hex')}`;
}

/** A layer from tar entries (tarEntry), ended as a tar is. */
export function layerOf(entries: Buffer[]): Layer {
  const tar = tarball(entries);
  return { tar, diffId: sha256(tar) };
}

/** A layer holding a whole folder, as node-tar archives it (owners and modes kept). */
export async function layerFromFolder(dir: string): Promise<Layer> {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'layer-')), 'layer.tar');
  try {
    await create({ file, cwd: dir, portable: false }, ['.']);
    const tar = fs.readFileSync(file);
    return { tar, diffId: sha256(tar) };
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

export interface ImageSpec {
  readonly layers: readonly Layer[];
  readonly config?: Record<string, unknown>;
  /** Default: this machine's. */
  readonly architecture?: string;
  readonly compression?: 'gzip' | 'zstd' | 'none';
}

const ARCHITECTURE = process.arch === 'x64' ? 'amd64' : process.arch;

function configOf(spec: ImageSpec): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: spec.architecture ?? ARCHITECTURE,
      os: 'linux',
      config: spec.config ?? {},
      rootfs: { type: 'layers', diff_ids: spec.layers.map((layer) => layer.diffId) },
    }),
  );
}

function compress(tar: Buffer, compression: ImageSpec['compression']): Buffer {
  if (compression === 'gzip') return zlib.gzipSync(tar);
  // The zstd command: Node 20's zlib has no zstd.
  if (compression === 'zstd') return spawnSync('zstd', ['-q', '-c'], { input: tar, maxBuffer: 1 << 30 }).stdout;
  return tar;
}

/** The blobs and descriptors of an OCI image layout, in memory: name -> content. */
function ociFiles(spec: ImageSpec): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const blob = (content: Buffer, mediaType: string) => {
    const digest = sha256(content);
    files.set(`blobs/sha256/${digest.slice(7)}`, content);
    return { mediaType, digest, size: content.length };
  };
  const compression = spec.compression ?? 'gzip';
  const suffix = compression === 'none' ? '' : `+${compression}`;
  const config = blob(configOf(spec), 'application/vnd.oci.image.config.v1+json');
  const layers = spec.layers.map((layer) => blob(compress(layer.tar, compression), `application/vnd.oci.image.layer.v1.tar${suffix}`));
  const manifest = blob(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config, layers })),
    'application/vnd.oci.image.manifest.v1+json',
  );
  const platform = { os: 'linux', architecture: spec.architecture ?? ARCHITECTURE };
  files.set('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
  files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifest, platform }] })));
  return files;
}

/** An OCI image layout folder (image-layout.md). */
export function writeOciLayout(dir: string, spec: ImageSpec): void {
  for (const [name, content] of ociFiles(spec)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
}

/** The same, as one tarball (what `skopeo copy ... oci-archive:` writes). */
export function writeOciArchive(file: string, spec: ImageSpec): void {
  const entries = [...ociFiles(spec)].map(([name, content]) => tarEntry({ path: name }, content));
  fs.writeFileSync(file, tarball(entries));
}

/** A `docker save` tarball as Docker before 25 wrote it: <id>/layer.tar, <config hex>.json, manifest.json. */
export function writeDockerSave(file: string, spec: ImageSpec, tag = 'test:latest'): void {
  const config = configOf(spec);
  const configName = `${sha256(config).slice(7)}.json`;
  const layerNames = spec.layers.map((layer, index) => `${sha256(Buffer.from(`${layer.diffId}${index}`)).slice(7)}/layer.tar`);
  const manifest = [{ Config: configName, RepoTags: [tag], Layers: layerNames }];
  const entries = [
    ...spec.layers.map((layer, index) => tarEntry({ path: layerNames[index]! }, layer.tar)),
    tarEntry({ path: configName }, config),
    tarEntry({ path: 'manifest.json' }, JSON.stringify(manifest)),
  ];
  fs.writeFileSync(file, tarball(entries));
}
