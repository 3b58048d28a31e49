/**
 * `shidi battery --compare BASELINE.json`: this run against an earlier run's `--json` document (another
 * cryptoconf, another core build, another board), component by component, so that a change's energy cost shows
 * in review. The baseline is read, not rerun: CI keeps the document of the main branch and compares a change
 * against it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { badInput } from '../errors.js';
import { fsReadFailure } from '../fs-errors.js';
import { COMPONENTS, type ComponentId } from './model.js';
import type { BatteryResult } from './profile.js';

/** What a comparison needs of a baseline document (docs/cli-json.md, `shidi battery --json`). */
export interface Baseline {
  board: { name: string };
  scenario: { name: string; hours: number; changed: string[] };
  capture: string;
  cryptoconf: string | null;
  core: { wasm_sha256: string };
  window: { seconds: number };
  life_hours: number | null;
  average_current_ma: number;
  energy_j: number;
  components: { id: ComponentId; label: string; average_ma: number }[];
}

export interface Comparison {
  baseline: {
    file: string;
    board: string;
    scenario: string;
    cryptoconf: string | null;
    core_sha256: string;
    life_hours: number | null;
    average_current_ma: number;
  };
  delta: { average_current_ma: number; relative: number; life_hours: number | null; energy_j: number };
  components: { id: ComponentId; label: string; baseline_ma: number; ma: number; delta_ma: number }[];
  /** What differs between the two runs besides the result (core, cryptoconf, board, scenario, window). */
  differs: string[];
  summary: string;
}

const bad = (file: string, why: string) =>
  badInput(`${file} is not a shidi battery --json document (${why}) — make the baseline with shidi battery --json > FILE`, 'bad-baseline');

export function loadBaseline(path: string): Baseline {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw fsReadFailure(e, `cannot read the baseline ${file}`, 'give --compare the file shidi battery --json wrote', 'bad-baseline');
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad(file, 'not JSON');
  }
  const d = doc as Record<string, unknown>;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw bad(file, 'not a JSON object');
  if (d.ok !== true) throw bad(file, d.ok === false ? 'it records a failed run' : 'no "ok": true');
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x);
  if (!num(d.average_current_ma) || !num(d.energy_j)) throw bad(file, 'no average_current_ma or energy_j');
  if (!(d.life_hours === null || num(d.life_hours))) throw bad(file, 'life_hours is not a number');
  const comps = d.components;
  if (!Array.isArray(comps) || !comps.every((c) => c && typeof c.id === 'string' && typeof c.label === 'string' && num(c.average_ma)))
    throw bad(file, 'no components with id, label and average_ma');
  const o = (x: unknown) => (x && typeof x === 'object' ? (x as Record<string, unknown>) : {});
  if (typeof o(d.board).name !== 'string' || typeof o(d.scenario).name !== 'string' || typeof o(d.core).wasm_sha256 !== 'string')
    throw bad(file, 'no board, scenario or core');
  return d as unknown as Baseline;
}

const signed = (x: number, digits: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(digits)}`;

export function compare(base: Baseline, file: string, r: BatteryResult): Comparison {
  const components = COMPONENTS.map(({ id, label }) => {
    const b = base.components.find((c) => c.id === id)?.average_ma ?? 0;
    const m = r.components.find((c) => c.id === id)!.average_ma;
    return { id, label, baseline_ma: b, ma: m, delta_ma: m - b };
  });
  const differs: string[] = [];
  if (base.core.wasm_sha256 !== r.core.wasm_sha256) differs.push(`core ${base.core.wasm_sha256.slice(0, 12)}… → ${r.core.wasm_sha256.slice(0, 12)}…`);
  if ((base.cryptoconf ?? null) !== r.cryptoconf)
    differs.push(`cryptoconf ${base.cryptoconf ?? 'default (test guardians)'} → ${r.cryptoconf ?? 'default (test guardians)'}`);
  if (base.board.name !== r.board.name) differs.push(`board ${base.board.name} → ${r.board.name}`);
  const scen = (s: { name: string; changed: string[] }) => [s.name, ...(s.changed ?? [])].join(' ');
  if (scen(base.scenario) !== scen(r.scenario)) differs.push(`scenario ${scen(base.scenario)} → ${scen(r.scenario)}`);
  if (base.capture !== r.capture) differs.push(`capture ${base.capture} → ${r.capture}`);
  if (base.window.seconds !== r.window.seconds) differs.push(`window ${base.window.seconds} s → ${r.window.seconds} s`);
  const dI = r.average_current_ma - base.average_current_ma;
  const rel = base.average_current_ma > 0 ? dI / base.average_current_ma : 0;
  const life = base.life_hours === null || !Number.isFinite(r.life_hours) ? null : r.life_hours - base.life_hours;
  const biggest = components.reduce((a, b) => (Math.abs(b.delta_ma) > Math.abs(a.delta_ma) ? b : a));
  const summary =
    `this run draws ${signed(dI, 3)} mA (${signed(rel * 100, 2)} %) against the baseline: ` +
    `${r.life_hours.toFixed(2)} h instead of ${base.life_hours === null ? '∞' : base.life_hours.toFixed(2)} h` +
    (life === null ? '' : ` (${signed(life, 2)} h)`) +
    (Math.abs(biggest.delta_ma) > 0 ? `; the largest change: ${biggest.label} ${signed(biggest.delta_ma, 3)} mA` : '; no component changed');
  return {
    baseline: {
      file: resolve(file),
      board: base.board.name,
      scenario: base.scenario.name,
      cryptoconf: base.cryptoconf ?? null,
      core_sha256: base.core.wasm_sha256,
      life_hours: base.life_hours,
      average_current_ma: base.average_current_ma,
    },
    delta: { average_current_ma: dI, relative: rel, life_hours: life, energy_j: r.energy_j - base.energy_j },
    components,
    differs,
    summary,
  };
}
