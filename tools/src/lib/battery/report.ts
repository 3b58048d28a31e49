/**
 * The battery report: one self-contained HTML file (inline CSS, the charts as inline SVG rendered by Vega in
 * Node, no script, nothing fetched) and one SVG picture beside it for a ticket. Both are written to a temporary
 * name in the target folder and renamed when complete.
 */
import { rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PROJECT_VERSION } from '../project.js';
import { fsFailure } from '../fs-errors.js';
import { trackTemp, untrackTemp } from '../temp-files.js';
import { breakdown, type ChartInputs, comparisonChart, energyOverTime, gpsWhatIf, photoWhatIf, renderSvg, stateOfCharge, summarySpec } from './charts.js';
import type { Comparison } from './compare.js';
import { COMPONENTS, type ComponentId } from './model.js';
import type { BatteryResult, FigureUse } from './profile.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const num = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '∞');
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The headline as it is printed and put on top of the report and the picture. */
export function headline(r: BatteryResult): string[] {
  return [
    `${r.board.name} board, ${r.scenario.name} scenario: ${num(r.life_hours)} h on the ${r.board.capacity_mah} mAh cell (${num(r.board.usable_mah, 0)} mAh usable)`,
    `average ${num(r.average_current_ma, 2)} mA, ${num(r.average_power_mw.rail, 0)} mW at the ${r.board.rail_v} V rail; largest: ${r.dominant.label} (${pct(r.dominant.share)}); crypto ${pct(r.crypto_share)}`,
  ];
}

export function chartInputs(r: BatteryResult, comparison: Comparison | null): ChartInputs {
  return {
    bins: r.bins.map((b) => ({
      start_s: b.start_s,
      end_s: b.end_s,
      mj: Object.fromEntries(COMPONENTS.map(({ id }) => [id, b.ma[id] * (b.end_s - b.start_s) * r.board.rail_v])) as Record<ComponentId, number>,
    })),
    projection: {
      components: r.components,
      average_ma: r.average_current_ma,
      life_hours: r.life_hours,
      state_of_charge: r.state_of_charge,
      soc_empty: 1 - r.board.usable_mah / r.board.capacity_mah,
    },
    target: r.target,
    whatIf: { camera: r.what_if.photo, gps: r.what_if.gps },
    current: { photo_every_s: r.scenario.replay ? null : r.scenario.photo_every_s, gps_every_s: r.scenario.replay ? null : r.scenario.gps_every_s },
    hours: r.scenario.hours,
    comparison: comparison ? comparison.components.map((c) => ({ label: c.label, baseline_ma: c.baseline_ma, ma: c.ma })) : null,
    baselineLabel: 'baseline',
  };
}

/** An SVG as it goes inside HTML: no XML declaration, and no namespace attributes (the HTML parser supplies them). */
const inline = (svg: string) => svg.replace(/<\?xml[^>]*>/, '').replace(/\s+xmlns(:\w+)?="[^"]*"/g, '');

function sourceText(s: FigureUse['source']): string {
  if (s.kind === 'estimate') return `<b>estimate</b>: ${esc(s.because)}`;
  if (s.kind === 'derived') return `<b>derived</b>: ${esc(s.from)} (${esc(s.ref)})`;
  return `<b>${s.kind}</b>: ${esc(s.ref)}`;
}

const STYLE = `
body { font-family: 'DejaVu Sans', 'Liberation Sans', Arial, sans-serif; margin: 2em auto; max-width: 72em; color: #222; line-height: 1.45; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ccc; }
.lead { font-size: 1.15em; } .big { font-size: 1.4em; font-weight: bold; }
.note { background: #f4f6f8; border-left: 4px solid #4c78a8; padding: .5em .8em; }
.warn { background: #fff5e6; border-left: 4px solid #f58518; padding: .5em .8em; }
table { border-collapse: collapse; margin: .5em 0; font-size: .92em; } td, th { border: 1px solid #ddd; padding: .25em .5em; vertical-align: top; }
th { background: #f4f6f8; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.component td { background: #fafafa; font-weight: bold; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
.charts { display: flex; flex-wrap: wrap; gap: 1em; }
code { font-size: .95em; }
`;

export async function renderReport(r: BatteryResult, comparison: Comparison | null): Promise<{ html: string; svg: string }> {
  const c = chartInputs(r, comparison);
  const charts: [string, Record<string, unknown> | null][] = [
    ['energy over time', energyOverTime(c)],
    ['breakdown', breakdown(c)],
    ['state of charge', stateOfCharge(c)],
    ['life against the photo interval', photoWhatIf(c)],
    ['life against the GPS interval', gpsWhatIf(c)],
    ['comparison', comparisonChart(c)],
  ];
  const rendered: string[] = [];
  for (const [name, spec] of charts) if (spec) rendered.push(`<figure data-chart="${esc(name)}">${inline(await renderSvg(spec))}</figure>`);
  const svg = await renderSvg(summarySpec(c, headline(r)));

  const s = r.scenario;
  const h = headline(r);
  const t = r.target;
  const rows = r.components
    .map((x) => {
      const head = `<tr class="component"><td>${esc(x.label)}</td><td></td><td class="n">${num(x.average_ma, 3)}</td><td class="n">${num(x.energy_j, 0)}</td><td class="n">${pct(x.share)}</td><td></td></tr>`;
      const items = x.items
        .filter((i) => i.quantity > 0 || i.average_ma > 0)
        .map(
          (i) =>
            `<tr><td>&nbsp;&nbsp;${esc(i.what)}</td><td class="n">${i.quantity_per_hour.toPrecision(4)} ${esc(i.unit)}/h</td><td class="n">${num(i.average_ma, 3)}</td><td class="n">${num(i.energy_j, 1)}</td><td></td><td><code>${i.figures.map(esc).join(', ')}</code></td></tr>`,
        )
        .join('');
      return head + items;
    })
    .join('\n');
  const figures = r.figures
    .map((f) => `<tr><td><code>${esc(f.path)}</code></td><td class="n">${f.value} ${esc(f.unit)}</td><td>${sourceText(f.source)}</td></tr>`)
    .join('\n');
  const options = t.options.map((o) => `<li>${esc(COMPONENTS.find((x) => x.id === o.component)!.label)}: ${esc(o.action)}</li>`).join('');
  const cmp = comparison
    ? `<h2>Comparison with ${esc(comparison.baseline.file)}</h2>
<p>${esc(comparison.summary)}</p>
<table><tr><th>component</th><th>baseline (mA)</th><th>this run (mA)</th><th>change (mA)</th></tr>
${comparison.components.map((x) => `<tr><td>${esc(x.label)}</td><td class="n">${num(x.baseline_ma, 3)}</td><td class="n">${num(x.ma, 3)}</td><td class="n">${x.delta_ma >= 0 ? '+' : ''}${num(x.delta_ma, 3)}</td></tr>`).join('\n')}
</table>${comparison.differs.length ? `<p>The runs differ in: ${comparison.differs.map(esc).join('; ')}.</p>` : ''}`
    : '';
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shidi battery report: ${esc(r.board.name)}, ${esc(s.name)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>What does a day cost? Shidi battery report</h1>
<p class="lead"><span class="big">${num(r.life_hours)} h</span> — ${esc(h[0]!)}.<br>${esc(h[1]!)}.</p>
<p class="note">Extrapolated: ${esc(r.window.statement)}. Scenario “${esc(s.name)}”: ${esc(s.description)}${s.changed.length ? `, changed by ${esc(s.changed.join(' '))}` : ''}; slices of ${s.slice_seconds} s.</p>
<h2>What would ${t.hours} h take?</h2>
${
  t.met
    ? `<p>It already lasts ${num(r.life_hours)} h, at least ${t.hours} h on the ${t.capacity_mah} mAh cell.</p>`
    : `<p>To last ${t.hours} h on the ${t.capacity_mah} mAh cell the average must fall from ${num(t.average_ma, 1)} mA to ${num(t.needed_ma, 1)} mA (−${num(t.saving_ma, 1)} mA). Each change alone:</p><ul>${options}</ul>`
}
<p>Crypto (AES, SHA, RSA and DS, TRNG together) is ${pct(r.crypto_share)} of the energy.</p>
${r.warnings.length ? `<div class="warn"><b>Warnings</b><ul>${r.warnings.map((w) => `<li>${esc(w)}</li>`).join('')}</ul></div>` : ''}
<h2>Charts</h2>
<div class="charts">
${rendered.join('\n')}
</div>
${cmp}
<h2>Breakdown</h2>
<p>Average current over the scenario, energy over its ${s.hours} h at the ${r.board.rail_v} V rail; quantities per hour of recording.</p>
<table>
<tr><th>component / what</th><th>quantity</th><th>average (mA)</th><th>energy (J)</th><th>share</th><th>board figures</th></tr>
${rows}
</table>
<h2>Figures and their sources</h2>
<p>Every figure of <code>${esc(r.board.file)}</code> the model read. Datasheet figures are the parts' own; estimates say why no better figure is at hand.</p>
<table><tr><th>figure</th><th>value</th><th>source</th></tr>
${figures}
</table>
<h2>The run</h2>
<table>
<tr><th>board</th><td>${esc(r.board.file)} (${r.board.cpu_mhz} MHz)</td></tr>
<tr><th>capture</th><td>${esc(r.capture)}</td></tr>
<tr><th>cryptoconf</th><td>${r.cryptoconf === null ? 'the default cryptoconf (wearer AND 2 of 3 guardians, device signature), throw-away TEST guardians' : esc(r.cryptoconf)}</td></tr>
<tr><th>core</th><td>${esc(r.core.path)}, ${r.core.wasm_bytes} bytes, sha256 <code>${r.core.wasm_sha256}</code></td></tr>
<tr><th>window</th><td>${num(r.window.seconds, 1)} s, ${r.window.slices} slice(s), ${r.window.bytes_in} bytes in, ${r.window.instructions} wasm instructions, ${r.window.hal_calls} HAL calls</td></tr>
<tr><th>CPU</th><td>load ${pct(r.cpu.load)} (core and engines), awake ${pct(r.cpu.awake_fraction)}, light sleep ${pct(r.cpu.light_sleep_fraction)}</td></tr>
<tr><th>GPS</th><td>${r.gps_mode.replace('_', ' ')}</td></tr>
</table>
<p>Made by <code>shidi battery</code> ${esc(PROJECT_VERSION)}. The model, its formulas and its limits: docs/battery.md in the Shidi repository.</p>
</body>
</html>
`;
  return { html, svg };
}

/** Writes `text` to `path` through a temporary name beside it, so a reader never sees half a file. */
async function writeWhole(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  trackTemp(tmp);
  try {
    await writeFile(tmp, text);
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw fsFailure(e, `cannot write ${path}`, { fix: 'give --report a path in a folder you may write' });
  } finally {
    untrackTemp(tmp);
  }
}

/** The picture's path: the report's, with .svg for its extension. */
export const svgPathFor = (html: string) => html.replace(/\.html?$/i, '') + '.svg';

export async function writeReport(r: BatteryResult, comparison: Comparison | null, htmlPath: string): Promise<{ html: string; svg: string }> {
  const { html, svg } = await renderReport(r, comparison);
  const svgPath = svgPathFor(htmlPath);
  await writeWhole(htmlPath, html);
  await writeWhole(svgPath, svg);
  return { html: htmlPath, svg: svgPath };
}
