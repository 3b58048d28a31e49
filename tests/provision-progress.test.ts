/**
 * shidi provision's progress (CLI.md, Output): on a terminal a bar of the steps done with the one under
 * way, each finished step's line printed above it; on a pipe, in a log or under --json the same numbered
 * lines without a bar or escape codes; nothing under -q.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type CommonOptions, Reporter } from '../tools/src/cli/io.js';
import { stepProgress } from '../tools/src/cli/progress.js';
import { STEPS } from '../tools/src/lib/provision/run.js';

/** Every step begun and done in turn; `pauseMs` lets the bar's redraw (every 100 ms) show the first step under way. */
async function run(tty: boolean, opts: CommonOptions, pauseMs = 0): Promise<string> {
  let err = '';
  const stdin = new PassThrough();
  const rep = new Reporter({ stdout: { write: () => undefined }, stderr: { write: (t: string) => (err += t), isTTY: tty }, stdin, env: {} }, opts);
  const p = stepProgress(rep, STEPS, 'provisioning');
  for (const s of STEPS) {
    p.begin(s, `working on ${s}`);
    if (s === 'info' && pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    p.done(s, `${s} finished`);
  }
  p.stop();
  return err;
}

const numbered = STEPS.map((s, i) => `[${i + 1}/${STEPS.length}] ${s}: ${s} finished`);
const ESC = '\u001b';

describe('the provisioning progress display', () => {
  it('on a terminal: a bar that ends at 9/9, and every step line above it', async () => {
    const out = await run(true, {}, 250);
    expect(out).toContain(ESC);
    expect(out).toMatch(/provisioning \[[█░]+\] 0\/9 info: working on info…/);
    expect(out).toMatch(/provisioning \[█+\] 9\/9 done/);
    const plain = out.replace(new RegExp(`${ESC}\\[[0-9;?]*[A-Za-z]`, 'g'), '');
    const at = numbered.map((l) => plain.indexOf(l));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  it('not on a terminal, or with --json: the numbered lines alone', async () => {
    expect(await run(false, {})).toBe(numbered.map((l) => l + '\n').join(''));
    expect(await run(true, { json: true })).toBe(numbered.map((l) => l + '\n').join(''));
  });

  it('with -q: nothing', async () => {
    expect(await run(true, { quiet: true })).toBe('');
    expect(await run(false, { quiet: true })).toBe('');
  });
});
