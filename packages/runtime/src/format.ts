// Sizes as people read them, for every message the project prints.

/** 104857600 -> '100 MiB'; 15204352 -> '14.5 MiB'; 512 -> '512 bytes'. */
export function formatBytes(bytes: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1))} ${unit}`;
  }
  return `${bytes} bytes`;
}
