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

// #region prototype
// The TypeScript type of a libc function is read off its C prototype, so the two can
// never disagree: `declare('int unshare(int flags)')` is a `(flags: number) => number`.
// The mapping is koffi's: C strings are JS strings; other pointers are Buffers (or
// null); integers are numbers, 64-bit ones a bigint when too large for a number;
// a returned pointer is a bigint (its address) or null; `...` takes (type, value) pairs.

type Trim<S extends string> = S extends ` ${infer R}` ? Trim<R> : S extends `${infer R} ` ? Trim<R> : S;

/** What JavaScript passes for one C parameter, e.g. `const char *path`. */
type ParameterType<C extends string> = C extends `const char **${string}`
  ? readonly (string | null)[]
  : C extends `const char *${string}`
    ? string | null
    : C extends `void *${string}`
      ? bigint | Buffer | null
      : C extends `${string}*${string}`
        ? Buffer | null
        : C extends `${'int64_t' | 'uint64_t'} ${string}`
          ? number | bigint
          : number;

type Parameters_<C extends string> = C extends 'void' | ''
  ? []
  : C extends `${infer Fixed}, ...`
    ? [...Parameters_<Trim<Fixed>>, ...unknown[]]
    : C extends `${infer First},${infer Rest}`
      ? [ParameterType<Trim<First>>, ...Parameters_<Trim<Rest>>]
      : [ParameterType<Trim<C>>];

/** What JavaScript gets back, from the part before the name: `const char *strerror` is a string. */
type ReturnType_<Head extends string> = Head extends `void *${string}`
  ? bigint | null
  : Head extends `void ${string}`
    ? void
    : Head extends `${'const char' | 'char'} *${string}`
      ? string
      : Head extends `${string}*${string}`
        ? bigint | null
        : Head extends `${'int64_t' | 'uint64_t'} ${string}`
          ? number | bigint
          : number;

/** The function type of a C prototype such as `int mount(const char *source, ..., const char *data)`. */
export type CFunction<Prototype extends string> = Prototype extends `${infer Head}(${infer Parameters})`
  ? (...args: Parameters_<Trim<Parameters>>) => ReturnType_<Trim<Head>>
  : never;

/**
 * Declares a libc function from its C prototype, e.g. `int unshare(int flags)`.
 * The declaration is made on first call, so a module full of declarations costs
 * nothing to import.
 */
export function declare<const Prototype extends string>(prototype: Prototype): CFunction<Prototype> {
  let fn: ((...args: unknown[]) => unknown) | undefined;
  return ((...args: unknown[]) => {
    fn ??= libc().func(prototype) as (...args: unknown[]) => unknown;
    return fn(...args);
  }) as CFunction<Prototype>;
}
// #endregion

/** errno of the last failed call. Read it right after the call, before any other I/O. */
export function errno(): number {
  return ffi().errno();
}
