// Test vectors live in docs/*.md, where a reader of the format finds them; suites read them from there so a
// doc and the code cannot drift apart. Every reader here throws when the doc no longer has what it looks for.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './fixtures.js';

/** The text of docs/<name>. */
export function readDoc(name: string): string {
  return readFileSync(join(ROOT, 'docs', name), 'utf8');
}

const FENCE = /```([^\n]*)\n([\s\S]*?)```/g;

/** The bodies of every fenced block whose info string is `lang` (e.g. ```segment-vector), in order. */
export function fencedBlocks(doc: string, lang: string): string[] {
  const blocks = [...readDoc(doc).matchAll(FENCE)].filter((m) => m[1]!.trim() === lang).map((m) => m[2]!);
  if (blocks.length === 0) throw new Error(`no \`\`\`${lang} block in docs/${doc}`);
  return blocks;
}

/** The body of the first fenced block after the first line that starts with `heading`. */
export function blockAfter(doc: string, heading: string): string {
  const text = readDoc(doc);
  const at = text.search(new RegExp(`^${heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`, 'm'));
  if (at < 0) throw new Error(`no "${heading}" in docs/${doc}`);
  const m = new RegExp(FENCE.source).exec(text.slice(at));
  if (!m) throw new Error(`no fenced block after "${heading}" in docs/${doc}`);
  return m[2]!;
}

/** The body of the fenced block right after an `<!-- marker -->` comment. */
export function markedBlock(doc: string, marker: string): string {
  const text = readDoc(doc);
  const at = text.indexOf(`<!-- ${marker} -->`);
  if (at < 0) throw new Error(`no <!-- ${marker} --> in docs/${doc}`);
  const m = /^\s*```[^\n]*\n([\s\S]*?)```/.exec(text.slice(at + marker.length + 9));
  if (!m) throw new Error(`no fenced block right after <!-- ${marker} --> in docs/${doc}`);
  return m[1]!;
}

/**
 * The bytes of a hex dump: on each line, the hex before the first run of two or more spaces (what follows
 * is a comment); spaces inside the hex are ignored.
 */
export function hexDump(block: string): Buffer {
  const hex = block
    .split('\n')
    .map((l) =>
      l
        .trim()
        .split(/\s{2,}/)[0]!
        .replace(/\s+/g, ''),
    )
    .join('');
  if (!/^([0-9a-f]{2})+$/.test(hex)) throw new Error(`not a lowercase hex dump: ${hex.slice(0, 60)}`);
  return Buffer.from(hex, 'hex');
}

/** The `key: value` lines of a block (the value trimmed), in a map; a repeated key is an error. */
export function fieldsOf(block: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of block.trim().split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) throw new Error(`not a "key: value" line: ${line}`);
    const key = line.slice(0, colon);
    if (fields.has(key)) throw new Error(`"${key}" twice in a vector block`);
    fields.set(key, line.slice(colon + 1).trim());
  }
  return fields;
}

/** The rows of a markdown table whose first cell matches `firstCell`, as trimmed cells. */
export function tableRows(doc: string, firstCell: RegExp): string[][] {
  const rows = readDoc(doc)
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    )
    .filter((cells) => firstCell.test(cells[0] ?? ''));
  if (rows.length === 0) throw new Error(`no table row matching ${firstCell} in docs/${doc}`);
  return rows;
}
