/**
 * The battery report's charts: Vega-Lite specifications, compiled and rendered to SVG in Node by Vega itself
 * (no browser, no network), so the HTML report can carry them inline and the summary picture stands alone.
 */
import type * as Vega from 'vega';
import type { TopLevelSpec } from 'vega-lite';
import type { Projection, Target, WhatIfPoint } from './evaluate.js';
import { COMPONENTS, type ComponentId } from './model.js';

type Spec = Record<string, unknown>;

const LABELS = COMPONENTS.map((c) => c.label);
/** One colour per component, the same in every chart. */
const componentColor = { field: 'component', type: 'nominal', title: 'component', scale: { domain: LABELS, scheme: 'tableau20' } };
const GROUP_COLORS = { domain: ['cpu', 'crypto', 'storage', 'sensors'], range: ['#4c78a8', '#e45756', '#72b7b2', '#f58518'] };
const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';
const CONFIG = { font: FONT, view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 }, title: { fontSize: 14, anchor: 'start' } };

export interface ChartInputs {
  /** Each bin's energy per component, millijoules at the rail. */
  bins: { start_s: number; end_s: number; mj: Record<ComponentId, number> }[];
  projection: Pick<Projection, 'components' | 'average_ma' | 'life_hours' | 'state_of_charge'> & { soc_empty: number };
  target: Target;
  whatIf: { camera: WhatIfPoint[] | null; gps: WhatIfPoint[] | null };
  current: { photo_every_s: number | null; gps_every_s: number | null };
  hours: number;
  comparison: { label: string; baseline_ma: number; ma: number }[] | null;
  baselineLabel: string;
}

export function energyOverTime(c: ChartInputs): Spec {
  const row = (t: number, b: ChartInputs['bins'][number]) =>
    COMPONENTS.filter(({ id }) => b.mj[id] > 0).map(({ id, label }) => ({ t, component: label, mj: b.mj[id], order: LABELS.indexOf(label) }));
  // Each bin is a step from its start; the last one is drawn to the window's end.
  const last = c.bins[c.bins.length - 1]!;
  const values = [...c.bins.flatMap((b) => row(b.start_s, b)), ...row(last.end_s, last)];
  return {
    title: 'Energy over time: each bin of the measured window, by component',
    width: 640,
    height: 260,
    data: { values },
    mark: { type: 'area', interpolate: 'step-after' },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'seconds into the measured window' },
      y: { field: 'mj', type: 'quantitative', stack: 'zero', title: `energy per ${(c.bins[0]!.end_s - c.bins[0]!.start_s).toFixed(1)} s bin (mJ)` },
      color: componentColor,
      order: { field: 'order' },
    },
  };
}

export function breakdown(c: ChartInputs): Spec {
  const values = c.projection.components.map((x) => ({ component: x.label, group: x.group, ma: x.average_ma, share: `${(x.share * 100).toFixed(1)} %` }));
  // An explicit order: a sort by the field would conflict between the bar and the text layer.
  const order = [...values].sort((a, b) => b.ma - a.ma).map((x) => x.component);
  return {
    title: `Average current by component (total ${c.projection.average_ma.toFixed(1)} mA)`,
    width: 420,
    height: 300,
    data: { values },
    encoding: {
      y: { field: 'component', type: 'nominal', sort: order, title: null },
      x: { field: 'ma', type: 'quantitative', title: 'average current (mA)' },
    },
    layer: [
      { mark: 'bar', encoding: { color: { field: 'group', type: 'nominal', title: 'group', scale: GROUP_COLORS, legend: { orient: 'bottom' } } } },
      { mark: { type: 'text', align: 'left', dx: 3 }, encoding: { text: { field: 'share' } } },
    ],
  };
}

export function stateOfCharge(c: ChartInputs): Spec {
  const p = c.projection;
  const values = p.state_of_charge.map((s) => ({ hours: s.hours, soc: s.soc * 100, v: s.v }));
  const empty = p.soc_empty * 100;
  const life = p.life_hours;
  return {
    title: `State of charge over ${c.hours} h${life < c.hours ? ` (empty after ${life.toFixed(1)} h)` : ''}`,
    width: 420,
    height: 260,
    data: { values },
    encoding: { x: { field: 'hours', type: 'quantitative', title: 'hours', scale: { domain: [0, c.hours] } } },
    layer: [
      {
        layer: [
          {
            mark: { type: 'line', color: '#4c78a8', strokeWidth: 2 },
            encoding: { y: { field: 'soc', type: 'quantitative', title: 'state of charge (%)', scale: { domain: [0, 100] } } },
          },
          {
            data: { values: [{ empty }] },
            mark: { type: 'rule', color: '#e45756', strokeDash: [4, 3] },
            encoding: { y: { field: 'empty', type: 'quantitative' } },
          },
        ],
      },
      {
        mark: { type: 'line', color: '#f58518', strokeDash: [6, 2] },
        encoding: { y: { field: 'v', type: 'quantitative', title: 'cell voltage (V, dashed)', scale: { zero: false } } },
      },
    ],
    resolve: { scale: { y: 'independent' } },
  };
}

function whatIf(points: WhatIfPoint[], current: number | null, what: string, targetHours: number): Spec {
  return {
    title: `Life against the ${what} interval`,
    width: 420,
    height: 240,
    layer: [
      {
        data: { values: points },
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'interval_s', type: 'quantitative', scale: { type: 'log' }, title: `one ${what} every … seconds (log scale)` },
          y: { field: 'life_hours', type: 'quantitative', title: 'battery life (h)' },
        },
      },
      {
        data: { values: [{ h: targetHours }] },
        mark: { type: 'rule', color: '#e45756', strokeDash: [4, 3] },
        encoding: { y: { field: 'h', type: 'quantitative' } },
      },
      ...(current === null
        ? []
        : [
            {
              data: { values: points.filter((p) => p.interval_s === current) },
              mark: { type: 'point', filled: true, size: 90, color: '#e45756' },
              encoding: { x: { field: 'interval_s', type: 'quantitative' }, y: { field: 'life_hours', type: 'quantitative' } },
            },
          ]),
    ],
  };
}

export const photoWhatIf = (c: ChartInputs) => (c.whatIf.camera ? whatIf(c.whatIf.camera, c.current.photo_every_s, 'photo', c.target.hours) : null);
export const gpsWhatIf = (c: ChartInputs) => (c.whatIf.gps ? whatIf(c.whatIf.gps, c.current.gps_every_s, 'GPS fix', c.target.hours) : null);

export function comparisonChart(c: ChartInputs): Spec | null {
  if (!c.comparison) return null;
  // The change, not the two levels: next to the chip's idle current every other change would be invisible.
  const values = c.comparison.map((x) => ({ component: x.label, delta: x.ma - x.baseline_ma, more: x.ma >= x.baseline_ma ? 'costs more' : 'costs less' }));
  return {
    title: `Change in average current by component: this run − ${c.baselineLabel}`,
    width: 420,
    height: 300,
    data: { values },
    mark: 'bar',
    encoding: {
      y: { field: 'component', type: 'nominal', sort: LABELS, title: null },
      x: { field: 'delta', type: 'quantitative', title: 'change in average current (mA)' },
      color: { field: 'more', type: 'nominal', title: null, scale: { domain: ['costs more', 'costs less'], range: ['#e45756', '#54a24b'] } },
    },
  };
}

/** What Vega-Lite and Vega would have printed: a chart that draws cleanly leaves this empty (tests look). */
export const chartWarnings: string[] = [];

/** A logger that keeps warnings instead of printing them into the command's output. */
function keeper(vega: typeof Vega): Vega.LoggerInterface {
  const l = vega.logger(vega.Warn);
  const keep = (...args: unknown[]) => {
    chartWarnings.push(args.map(String).join(' '));
    return l;
  };
  return Object.assign(l, { warn: keep, error: keep, info: () => l, debug: () => l });
}

/** Renders one Vega-Lite specification to an SVG document, headless. */
export async function renderSvg(spec: Spec): Promise<string> {
  const top = { $schema: 'https://vega.github.io/schema/vega-lite/v6.json', config: CONFIG, background: 'white', ...spec } as TopLevelSpec;
  // Loaded on the first chart: the library index (every command's) stays free of Vega's tens of MiB.
  const [vega, vl] = await Promise.all([import('vega'), import('vega-lite')]);
  const logger = keeper(vega);
  const view = new vega.View(vega.parse(vl.compile(top, { logger }).spec), { renderer: 'none', logger });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The picture for a ticket: the breakdown, the day's state of charge and the what-if curves, titled with the figure that matters. */
export function summarySpec(c: ChartInputs, title: string[]): Spec {
  const row2 = [photoWhatIf(c), gpsWhatIf(c)].filter((s): s is Spec => s !== null);
  return {
    title: { text: title, fontSize: 15 },
    vconcat: [{ hconcat: [breakdown(c), stateOfCharge(c)] }, ...(row2.length ? [{ hconcat: row2 }] : [])],
    resolve: { scale: { color: 'independent' } },
  };
}
