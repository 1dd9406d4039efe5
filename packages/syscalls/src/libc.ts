// Loading libc through koffi, lazily, so that importing this package never fails:
// an editor on macOS or Windows can load it for IntelliSense, and only a call made
// off Linux throws.
import type { LibraryHandle } from 'koffi';

type Koffi = typeof import('koffi');

let koffi: Koffi | undefined;
let lib: LibraryHandle | undefined;

// #region ffi
/** The koffi module itself (for errno, decode). Loaded on first use. */
export function ffi(): Koffi {
  if (process.platform !== 'linux') {
    throw new Error(
      `linux system calls are not available on ${process.platform}: run this on Linux (a VM, WSL 2 or a remote machine)`,
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  koffi ??= require('koffi') as Koffi;
  return koffi;
}
// #endregion

/** glibc, loaded once. */
export function libc(): LibraryHandle {
  lib ??= ffi().load('libc.so.6');
  return lib;
}

/**
 * Declares a libc function from its C prototype, e.g. `int unshare(int flags)`.
 * The declaration is made on first call, so a module full of declarations costs
 * nothing to import.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function declare<F extends (...args: any[]) => any>(prototype: string): F {
  let fn: F | undefined;
  return ((...args: unknown[]) => {
    fn ??= libc().func(prototype) as unknown as F;
    return fn(...args);
  }) as F;
}

/** errno of the last failed call. Read it right after the call, before any other I/O. */
export function errno(): number {
  return ffi().errno();
}
