// Real images: a root filesystem imported from a tarball (`docker export`, an Alpine
// minirootfs, a tar of a debootstrap tree), with our own extractor (untar.ts, through
// unpack.ts) doing the tar, Node's zlib the gzip and xz-decompress (WebAssembly, no
// native addon) the xz. A layered image (an OCI layout, `docker save`) is told apart
// here and handed to oci.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import zlib from 'node:zlib';
import { CliError, ExitStatus, formatBytes } from '@samples/runtime';
import { Parser } from 'tar';
import { XzReadableStream } from 'xz-decompress';
import { CHUNK, type Compression, type ImageSource, NotATar, type TarSource, compressionOf, folderSource, isImageLayout, looksLikeImage, readHead, tarSource } from './archive';
import { discardTree, fileFailure, finishTree, imagesDir, isValidName, layersDir, makeTopFolders, startTree } from './images';
import { type ImportedImage, importImage } from './oci';
import { Interruption, RefusedEntry, type Unpacked, cutShort, unpack } from './unpack';
import { TarFormatError } from './untar';
import { BadWhiteout } from './whiteouts';

export interface ImportResult {
  readonly dir: string;
  readonly files: number;
  readonly bytes: number;
  /** Device nodes and FIFOs, which are not made: the runtime makes /dev itself. */
  readonly skipped: number;
  readonly seconds: number;
  /** Set when it was a layered image. */
  readonly image?: ImportedImage;
}

/** xz-decompress failed: the data is damaged, or cut short. */
/** The compressed data ended early (a download cut short) or is damaged. */
class DecompressionError extends Error {
  constructor(readonly truncated: boolean) {
    super(truncated ? 'truncated' : 'damaged');
  }
}

/** The import stopped by SIGINT, SIGTERM or SIGHUP. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * Imports the tarball `file` (.tar, .tar.gz/.tgz, .tar.xz; recognised by content, not
 * name) as the root filesystem `name`. Owners (when run as root), modes, symlinks and
 * hard links are kept. The whole import is refused if one entry would write outside the
 * tree. Nothing is registered unless it all went well: the tree is made in a hidden
 * folder and renamed into place at the end; on a failure, a full disk, SIGINT, SIGTERM
 * or SIGHUP the folder is removed.
 * A layered image (an OCI layout folder or tarball, a `docker save` tarball) is
 * imported by importImage, with the same rules.
 */
export async function importRootfs(file: string, name: string, options: { progress?: boolean } = {}): Promise<ImportResult> {
  if (!isValidName(name)) {
    throw new CliError(
      `"${name}" cannot name a root filesystem: use letters, digits, '.', '_' and '-', starting with a letter or digit`,
      ExitStatus.USAGE,
    );
  }
  const target = path.join(imagesDir(), name);
  if (fs.existsSync(target)) {
    throw new CliError(
      `a root filesystem named "${name}" exists already: remove it first (pnpm rootfs remove ${name}), or choose another name`,
    );
  }
  const stat = fs.statSync(file, { throwIfNoEntry: false });
  if (stat === undefined) throw new CliError(`no such file: ${file}`);
  if (stat.isDirectory() && !isImageLayout(file)) {
    throw new CliError(
      `${file} is a folder, not a tarball or an OCI image layout (oci-layout, index.json): a stage can use it as it is (--rootfs ${path.resolve(file)}), or tar it first`,
    );
  }
  const compression = stat.isDirectory() ? 'none' : sniffCompression(file);

  const started = process.hrtime.bigint();
  const seconds = () => Number(process.hrtime.bigint() - started) / 1e9;
  let tree: string | undefined;
  let unpacked: string | undefined;
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const interruption = new Interruption();
  const onSignal = (signal: NodeJS.Signals) => interruption.interrupt(new Interrupted(signal));
  for (const signal of signals) process.on(signal, onSignal);
  try {
    let source: ImageSource | undefined;
    if (stat.isDirectory()) source = folderSource(file);
    else if (compression === 'none') {
      const tar = indexed(file);
      if (tar !== undefined && looksLikeImage(tar.names)) source = tar;
    } else if (looksLikeImage(await firstEntries(file, compression, interruption))) {
      // A compressed image tarball (docker save | gzip): its files are read by position, which needs it whole.
      unpacked = path.join(layersDir(), 'sha256', `.${path.basename(file)}.partial-${process.pid}`);
      fs.mkdirSync(path.dirname(unpacked), { recursive: true });
      await decompressTo(file, compression, unpacked, interruption);
      source = tarSource(unpacked);
    }
    if (source !== undefined) {
      const image = await importImage(source, name, target, interruption);
      return { dir: target, files: image.files, bytes: image.bytes, skipped: image.skipped, seconds: seconds(), image };
    }
    tree = startTree(target);
    const extracted = await extract(file, stat.size, compression, tree, options.progress ?? false, interruption.onStart);
    makeTopFolders(tree);
    const marker = {
      name,
      source: `imported from ${path.resolve(file)}`,
      created: new Date().toISOString(),
      files: extracted.files,
      bytes: extracted.bytes,
    };
    if (!finishTree(tree, target, marker, false)) {
      throw new CliError(
        `a root filesystem named "${name}" appeared while importing: remove it first (pnpm rootfs remove ${name}), or choose another name`,
      );
    }
    return { dir: target, files: extracted.files, bytes: extracted.bytes, skipped: extracted.skipped, seconds: seconds() };
  } catch (error) {
    if (tree !== undefined) discardTree(tree);
    throw describeImportFailure(error, file);
  } finally {
    if (unpacked !== undefined) fs.rmSync(unpacked, { force: true });
    for (const signal of signals) process.off(signal, onSignal);
  }
}

/** The tarball's index, or undefined when it is no whole tar: extract then says what is wrong in its words. */
function indexed(file: string): TarSource | undefined {
  try {
    return tarSource(file);
  } catch (error) {
    if (error instanceof NotATar) return undefined;
    throw error;
  }
}

/** The compression, by magic bytes; those this import cannot read are refused in one line. */
function sniffCompression(file: string): Compression {
  const compression = compressionOf(readHead(file));
  if (compression === 'zstd') {
    throw new CliError(
      `${file} is zstd-compressed, which is not supported here: decompress it first (zstd -d ${file}), then import the .tar`,
    );
  }
  if (compression === 'bzip2') {
    throw new CliError(
      `${file} is bzip2-compressed, which is not supported here: decompress it first (bunzip2 -k ${file}), then import the .tar`,
    );
  }
  return compression;
}

/** The tar in the `input` stream, decompressed; `onError` hears of damaged compressed data. */
function decompressed(compression: Compression, input: Readable, onError: (error: Error) => void): Readable {
  if (compression === 'xz') {
    return Readable.fromWeb(new XzReadableStream(pulledFrom(input)) as ReadableStream).on(
      'error',
      (error) =>
        // xz-embedded's XZ_BUF_ERROR (8): the input ended before the stream did.
        onError(new DecompressionError(error.message.endsWith('error code 8'))),
    );
  }
  if (compression === 'gzip') {
    // Node's zlib, not node-tar's own gunzip, which takes a stream cut short for a whole
    // one. It inflates in the thread pool, beside the extraction on the main thread (as
    // GNU tar runs gzip beside it), in chunks as large as the file's.
    return input.pipe(zlib.createGunzip({ chunkSize: CHUNK })).on('error', (error: NodeJS.ErrnoException) =>
      onError(new DecompressionError(error.code === 'Z_BUF_ERROR')),
    );
  }
  return input;
}

/**
 * `input` as a web stream that reads only when asked. (Node's Readable.toWeb pushes what
 * the file gives even after the decompressor has given up and closed the stream, and
 * that ends the process with an uncaught ERR_INVALID_STATE.)
 */
function pulledFrom(input: Readable): ReadableStream<Uint8Array> {
  const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await chunks.next();
      if (done) controller.close();
      else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    },
    cancel() {
      input.destroy();
    },
  });
}

/** The names of the first `count` entries of a compressed tarball: enough to tell an image from a root filesystem. */
function firstEntries(file: string, compression: Compression, interruption: Interruption, count = 8): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const names: string[] = [];
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      input.destroy();
      stream.destroy();
      if (error) reject(error);
      else resolve(names);
    };
    interruption.onStart(finish);
    const input = fs.createReadStream(file).on('error', finish);
    const stream = decompressed(compression, input, finish);
    const parser = new Parser({
      onReadEntry: (entry) => {
        names.push(entry.path);
        entry.resume();
        if (names.length >= count) finish();
      },
    });
    parser.on('error', finish).on('close', () => finish());
    stream.pipe(parser);
  });
}

/** Writes the tar inside a compressed tarball to `output`. */
function decompressTo(file: string, compression: Compression, output: string, interruption: Interruption): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      if (error) {
        input.destroy();
        stream.destroy();
        reject(error);
      } else resolve();
    };
    interruption.onStart(finish);
    const input = fs.createReadStream(file).on('error', finish);
    const stream = decompressed(compression, input, finish);
    stream.pipe(fs.createWriteStream(output).on('error', finish).on('finish', () => finish()));
  });
}

// #region extract
/** Streams the tarball into `tree`; `onStart` receives the function that stops it. */
function extract(
  file: string,
  size: number,
  compression: Compression,
  tree: string,
  showProgress: boolean,
  onStart: (stop: (error: Error) => void) => void,
): Promise<Unpacked> {
  const progress = progressBar(path.basename(file), size, showProgress);
  let stopUnpack: ((error: Error) => void) | undefined;
  const fail = (error: Error) => {
    input.destroy();
    stream.destroy();
    stopUnpack?.(error);
  };
  const input = fs.createReadStream(file, { highWaterMark: CHUNK }).on('error', fail);
  input.on('data', () => progress.update(input.bytesRead));
  const stream = decompressed(compression, input, fail);
  return unpack(stream, tree, file, {
    onStart: (stop) => {
      stopUnpack = stop;
      onStart(fail);
    },
    onEnd: () => progress.end(),
  });
}

// #endregion

/** A progress bar on stderr while it is a terminal: bytes of the tarball read. */
function progressBar(label: string, total: number, enabled: boolean) {
  const width = 30;
  let last = 0;
  const draw = (done: number) => {
    const fraction = total > 0 ? Math.min(done / total, 1) : 1;
    const filled = Math.round(fraction * width);
    process.stderr.write(
      `\rimporting ${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${formatBytes(done)} of ${formatBytes(total)}`,
    );
  };
  return {
    update(done: number) {
      const now = Date.now();
      if (!enabled || now - last < 100) return;
      last = now;
      draw(done);
    },
    end() {
      if (enabled && last > 0) process.stderr.write('\r\x1b[K');
    },
  };
}

/** One line for whatever stopped the import; the tree is gone by then. */
function describeImportFailure(error: unknown, file: string): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof Interrupted) {
    return new CliError(`import ${error.message}: nothing was imported`, 128 + (os.constants.signals[error.signal] ?? 0));
  }
  if (error instanceof RefusedEntry) return new CliError(`${file}: ${error.message}`);
  if (error instanceof BadWhiteout) return new CliError(`${file}: ${error.message}; nothing was imported`);
  if (error instanceof DecompressionError) return error.truncated ? cutShort(file) : notATarball(file);
  if (error instanceof TarFormatError) return notATarball(file);
  const { code, syscall, tarCode, message } = error as NodeJS.ErrnoException & { tarCode?: string };
  // node-tar's words for a damaged tar (its Parser reads a compressed tarball's first names), zlib's for damaged gzip.
  if (tarCode === 'TAR_BAD_ARCHIVE' || tarCode === 'TAR_ENTRY_INVALID' || code?.startsWith('Z_')) {
    return /truncated|unexpected end/i.test(message) ? cutShort(file) : notATarball(file);
  }
  if (syscall !== undefined) return fileFailure(error, `importing ${file}`, imagesDir());
  return new CliError(`importing ${file} failed: ${message}; nothing was imported`);
}

function notATarball(file: string): CliError {
  return new CliError(`${file} is not a tarball (.tar, .tar.gz or .tar.xz), or is damaged: nothing was imported`);
}

