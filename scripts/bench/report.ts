// Tables as aligned text for a terminal, or as Markdown (with Mermaid charts) for docs/.

export type Align = 'left' | 'right';

export interface Table {
  readonly header: readonly string[];
  readonly align: readonly Align[];
  readonly rows: readonly (readonly string[])[];
}

export function renderTable(table: Table, markdown: boolean): string {
  if (markdown) {
    const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
    return [line(table.header), line(table.align.map((a) => (a === 'right' ? '---:' : '---'))), ...table.rows.map(line)].join('\n');
  }
  const widths = table.header.map((title, i) => Math.max(title.length, ...table.rows.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, i) => (table.align[i] === 'right' ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(table.header), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)].join('\n');
}

/** A Mermaid bar chart (GitHub renders `xychart-beta`). */
export function barChart(title: string, labels: readonly string[], values: readonly number[], unit: string, horizontal = false): string {
  const top = Math.max(...values);
  const max = top > 100 ? Math.ceil(top / 100) * 100 : Math.ceil(top / 10) * 10;
  return [
    '```mermaid',
    `xychart-beta${horizontal ? ' horizontal' : ''}`,
    `  title "${title}"`,
    `  x-axis [${labels.map((label) => JSON.stringify(label)).join(', ')}]`,
    `  y-axis "${unit}" 0 --> ${max}`,
    `  bar [${values.map((v) => Number(v.toFixed(1))).join(', ')}]`,
    '```',
  ].join('\n');
}

export function ms(value: number): string {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}
