/**
 * `shidi battery` in-process (CLI.md, "Testing the CLI"): the --json document's shape and its arithmetic (the
 * breakdown adds up, the life is the usable charge over the average), the HTML report holds everything it shows
 * (no script, no stylesheet or picture fetched), the SVG picture parses as XML, a bad board or baseline is one
 * line and exit 3, usage errors exit 2, and --compare's deltas. Short windows (20 s slices) keep it quick.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { type CliRun, expectCleanFailure, shidi } from './helpers/cli.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const tmp = scratch('shidi-battery-cli-');
afterAll(tmp.cleanup);
const pool = join(tmp.dir, 'pool');
/** A short scenario: 20 s slices, a photo and a fix every 10 s, so the window is one 20 s slice. */
const SHORT = ['--slice-seconds', '20', '--photo-every', '10', '--gps-every', '10'];
// biome-ignore lint/suspicious/noExplicitAny: the --json document is read field by field
let doc: any;
let html: string;
const report = join(tmp.dir, 'report.html');
const board = JSON.parse(readFileSync(join(ROOT, 'board', 'reference.json'), 'utf8'));

beforeAll(async () => {
  await makeTestGuardians(pool, { deviceSignature: true });
  const r = await shidi(['battery', ...SHORT, '--keys', pool, '--report', report, '--json']);
  expect(r.code, r.stderr).toBe(0);
  doc = JSON.parse(r.stdout);
  html = readFileSync(report, 'utf8');
  writeFileSync(join(tmp.dir, 'base.json'), r.stdout);
});

const close = (got: number, want: number, rel = 1e-9) => expect(Math.abs(got - want)).toBeLessThanOrEqual(Math.abs(want) * rel + 1e-12);
const IDS = ['cpu_active', 'cpu_idle', 'cpu_sleep', 'aes', 'sha', 'rsa', 'trng', 'sd', 'flash', 'camera', 'microphone', 'gps'];

describe('shidi battery --json', () => {
  it('says what it measured and that it extrapolated', () => {
    expect(doc.ok).toBe(true);
    expect(doc.board).toMatchObject({ name: 'reference', file: 'board/reference.json', capacity_mah: 1000, rail_v: 3.3, cpu_mhz: 160 });
    close(doc.board.usable_mah, 900);
    expect(doc.scenario).toMatchObject({ name: 'default', hours: 24, audio: true, photo_every_s: 10, gps_every_s: 10, slice_seconds: 20, replay: false });
    expect(doc.scenario.changed).toEqual(['--slice-seconds 20', '--photo-every 10', '--gps-every 10']);
    expect(doc.capture).toBe(join(ROOT, 'host-sim', 'sample', 'sample.shcap'));
    expect(doc.cryptoconf).toBe(join(pool, 'default-cryptoconf.json'));
    expect(doc.core.path).toBe(join(ROOT, 'build', 'encryptor.wasm'));
    expect(doc.core.wasm_sha256).toMatch(/^[0-9a-f]{64}$/);
    // 24 h ÷ 20 s = 4320 windows.
    expect(doc.window).toMatchObject({ seconds: 20, slices: 1, frames: { audio: 40, camera: 2, gps: 2 }, scale: 4320, rounded: false });
    expect(doc.window.statement).toBe('measured over a 20 s window (1 slice; 40 audio blocks, 2 photos, 2 GPS fixes) and extrapolated ×4320 to 24 h');
    expect(doc.window.instructions).toBeGreaterThan(100_000);
    expect(doc.gps_mode).toBe('power_save'); // a fix every 10 s
  });

  it('breaks the energy down into the 12 components, which add up to the total', () => {
    expect(doc.components.map((c: { id: string }) => c.id)).toEqual(IDS);
    const sum = (k: string) => doc.components.reduce((n: number, c: Record<string, number>) => n + c[k]!, 0);
    close(sum('average_ma'), doc.average_current_ma);
    close(sum('share'), 1);
    close(sum('energy_j'), doc.energy_j);
    for (const c of doc.components)
      close(
        c.items.reduce((n: number, i: { average_ma: number }) => n + i.average_ma, 0),
        c.average_ma,
      );
    // Over 24 h at the 3.3 V rail; the life is the 900 usable mAh over the average current.
    close(doc.energy_j, (doc.average_current_ma * 24 * 3600 * 3.3) / 1000);
    close(doc.life_hours, 900 / doc.average_current_ma);
    close(doc.average_power_mw.rail, doc.average_current_ma * 3.3);
    const top = [...doc.components].sort((a, b) => b.average_ma - a.average_ma)[0];
    expect(doc.dominant).toEqual({ id: top.id, label: top.label, share: top.share });
    const crypto = doc.components.filter((c: { id: string }) => ['aes', 'sha', 'rsa', 'trng'].includes(c.id));
    close(
      doc.crypto_share,
      crypto.reduce((n: number, c: { share: number }) => n + c.share, 0),
    );
    // Every bin's currents, averaged over the window, give the components' averages.
    for (const [k, id] of IDS.entries())
      close(
        doc.bins.reduce((n: number, b: { start_s: number; end_s: number; ma: Record<string, number> }) => n + b.ma[id]! * (b.end_s - b.start_s), 0) / 20,
        doc.components[k].average_ma,
      );
  });

  it('answers what 24 h would take, gives the what-if curves through the measured point and the day’s state of charge', () => {
    expect(doc.target).toMatchObject({ hours: 24, capacity_mah: 1000, met: false });
    close(doc.target.needed_ma, 900 / 24);
    close(doc.target.saving_ma, doc.average_current_ma - 37.5);
    expect(doc.target.options.map((o: { component: string }) => o.component)).toEqual(['microphone', 'cpu_idle', 'gps', 'camera']);
    for (const [curve, now] of [
      [doc.what_if.photo, 10],
      [doc.what_if.gps, 10],
    ]) {
      const at = curve.find((p: { interval_s: number }) => p.interval_s === now);
      close(at.life_hours, doc.life_hours, 1e-9);
    }
    expect(doc.state_of_charge[0]).toEqual({ hours: 0, soc: 1, v: 4.2 });
    const last = doc.state_of_charge.at(-1);
    close(last.hours, Math.min(24, doc.life_hours));
    close(last.soc, 1 - (doc.average_current_ma * last.hours) / 1000);
  });

  it('lists every board figure it read, as the board file gives it, with its source', () => {
    expect(doc.figures.length).toBeGreaterThanOrEqual(30);
    for (const fig of doc.figures) {
      const raw = fig.path.split('.').reduce((o: Record<string, unknown>, k: string) => o[k], board);
      expect(raw, fig.path).toEqual({ value: fig.value, unit: fig.unit, source: fig.source, ...(raw.at_v === undefined ? {} : { at_v: raw.at_v }) });
    }
    expect(doc.figures.map((x: { path: string }) => x.path)).toContain('power.cpu.wamr_interp_slowdown');
    expect(doc.report).toEqual({ html: report, svg: join(tmp.dir, 'report.svg') });
    expect(doc.comparison).toBeNull();
  });
});

describe('the report', () => {
  it('is one self-contained HTML file: no script, nothing fetched (no src, no href, no url(), no @import)', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    for (const bad of [/<script/i, /<link/i, /<img/i, /<iframe/i, /<object/i, /<embed/i, /\ssrc\s*=/i, /\shref\s*=/i, /url\s*\(/i, /@import/i, /https?:\/\//i])
      expect(html, String(bad)).not.toMatch(bad);
    // The charts are inline SVG drawn by Vega: energy over time, breakdown, state of charge, two what-if curves.
    const figures = [...html.matchAll(/<figure data-chart="([^"]+)"><svg [^>]*class="marks"/g)].map((m) => m[1]);
    expect(figures).toEqual(['energy over time', 'breakdown', 'state of charge', 'life against the photo interval', 'life against the GPS interval']);
    expect(html).toContain(doc.window.statement);
    expect(html).toContain('Crypto (AES, SHA, RSA and DS, TRNG together) is');
  });

  it('comes with an SVG picture that parses as XML (Python’s own parser) and holds the headline', () => {
    const svg = join(tmp.dir, 'report.svg');
    const out = execFileSync(
      'python3',
      [
        '-c',
        `import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = '{http://www.w3.org/2000/svg}'
print(root.tag)
print(sum(1 for e in root.iter(ns + 'path')))
print('|'.join(''.join(e.itertext()) for e in root.iter(ns + 'text')))`,
        svg,
      ],
      { encoding: 'utf8' },
    ).split('\n');
    expect(out[0]).toBe('{http://www.w3.org/2000/svg}svg');
    expect(Number(out[1])).toBeGreaterThan(20);
    expect(out[2]).toContain(`reference board, default scenario: ${doc.life_hours.toFixed(1)} h on the 1000 mAh cell`);
  });
});

const oneLine = (r: CliRun) => {
  expectCleanFailure(r);
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => !l.startsWith('measuring'));
  expect(lines.length, r.stderr).toBe(1);
  return lines[0]!;
};

describe("the README's figures", () => {
  it('“What does a day cost?” shows the default scenario as the tool prints it', async () => {
    const r = await shidi(['battery', '--no-report']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('Compare a change'));
    expect(lines[0]).toMatch(/^reference board, default scenario: [\d.]+ h on the 1000 mAh cell \(900 mAh usable\)$/);
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(`## What does a day cost?\n\n    npx shidi battery\n`);
    expect(readme).toContain(lines.map((l) => `    ${l}`).join('\n'));
  });
});

describe('refusals', () => {
  it('a board that lacks a figure the model needs, or breaks the schema: one line naming the figure, exit 3', async () => {
    const broken = structuredClone(board);
    broken.name = 'broken';
    delete broken.power.gps.fix_on_time;
    const file = join(tmp.dir, 'broken.json');
    writeFileSync(file, JSON.stringify(broken));
    const r = await shidi(['battery', '--board', file, '--no-report', '--json']);
    expect(r.code).toBe(3);
    expect(oneLine(r)).toBe(
      `shidi: ${file}: power.gps.fix_on_time is missing; shidi battery needs it — add it with its source (docs/battery.md lists the figures)`,
    );
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, exit_code: 3, kind: 'bad-board' });

    broken.power.gps.fix_on_time = { value: 5, unit: 'mA', source: { kind: 'estimate', because: 'a time given in the wrong unit, for this test' } };
    writeFileSync(file, JSON.stringify(broken));
    const u = await shidi(['battery', '--board', file, '--no-report']);
    expect(u.code).toBe(3);
    expect(oneLine(u)).toMatch(/power\.gps\.fix_on_time is in mA; shidi battery reads it in s/);

    broken.power.gps.fix_on_time.unit = 's';
    broken.power.cpu.idle.value = -42.3;
    writeFileSync(file, JSON.stringify(broken));
    const s = await shidi(['battery', '--board', file, '--no-report']);
    expect(s.code).toBe(3);
    expect(oneLine(s)).toMatch(/power\.cpu\.idle\.value must be >= 0 — fix the board file/);

    const n = await shidi(['battery', '--board', 'nosuch', '--no-report']);
    expect(n.code).toBe(3);
    expect(oneLine(n)).toBe('shidi: no board description board/nosuch.json — the boards are reference, xl');
  });

  it('usage errors exit 2', async () => {
    for (const args of [
      ['--photo-every', 'soon'],
      ['--scenario', 'nosuch'],
      ['--scenario', 'replay', '--photo-every', '10'],
      ['--audio', 'off', '--photo-every', 'off', '--gps-every', 'off'],
      ['--cryptoconf', join(pool, 'default-cryptoconf.json')],
      ['--hours', '0'],
    ]) {
      const r = await shidi(['battery', ...args, '--no-report']);
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneLine(r)).toMatch(/ — /);
    }
  });

  it('a baseline that is not a battery document: exit 3 before anything is measured', async () => {
    const junk = join(tmp.dir, 'junk.json');
    writeFileSync(junk, '{"ok": false, "exit_code": 3}');
    const r = await shidi(['battery', '--compare', junk, '--no-report', '--json']);
    expect(r.code).toBe(3);
    expect(oneLine(r)).toMatch(
      /junk\.json is not a shidi battery --json document \(it records a failed run\) — make the baseline with shidi battery --json > FILE/,
    );
    expect(r.stderr).not.toContain('measuring');
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, kind: 'bad-baseline' });
  });
});

describe('--compare', () => {
  it('against itself: no change, nothing differs (the run is deterministic)', async () => {
    const cmp = join(tmp.dir, 'cmp.html');
    const r = await shidi(['battery', ...SHORT, '--keys', pool, '--report', cmp, '--compare', join(tmp.dir, 'base.json'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const c = JSON.parse(r.stdout).comparison;
    expect(c.delta.average_current_ma).toBe(0);
    expect(c.differs).toEqual([]);
    expect(c.components.every((x: { delta_ma: number }) => x.delta_ma === 0)).toBe(true);
    // The report shows the comparison: its chart and its table.
    const page = readFileSync(cmp, 'utf8');
    expect(page).toMatch(/<figure data-chart="comparison"><svg /);
    expect(page).toContain(`<h2>Comparison with ${join(tmp.dir, 'base.json')}</h2>`);
  });

  it('against a baseline whose RSA drew 1 mA more: −1 mA for RSA and in total; another core build is named as the difference', async () => {
    const base = JSON.parse(readFileSync(join(tmp.dir, 'base.json'), 'utf8'));
    base.components.find((c: { id: string }) => c.id === 'rsa').average_ma += 1;
    base.average_current_ma += 1;
    const file = join(tmp.dir, 'base-rsa.json');
    writeFileSync(file, JSON.stringify(base));
    // The same module with one more custom section: another build, the same behaviour.
    const wasm = readFileSync(join(ROOT, 'build', 'encryptor.wasm'));
    const other = join(tmp.dir, 'other.wasm');
    writeFileSync(other, Buffer.concat([wasm, Buffer.from([0x00, 0x06, 0x05, ...Buffer.from('build')])]));
    const r = await shidi(['battery', ...SHORT, '--keys', pool, '--core', other, '--no-report', '--compare', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /against .*base-rsa\.json: this run draws −1\.000 mA \(−[\d.]+ %\) against the baseline: .*; the largest change: RSA engine \(and DS\) −1\.000 mA/,
    );
    expect(r.stdout).toMatch(/the runs differ in: core [0-9a-f]{12}… → [0-9a-f]{12}…/);
    expect(r.stdout).toMatch(/RSA engine \(and DS\) +[\d.]+ → +[\d.]+ mA \(-1\.000\)/);
    expect(r.stdout).toMatch(/h on the 1000 mAh cell/);
    expect(existsSync(join(ROOT, 'battery-report.html'))).toBe(false);
  });
});
