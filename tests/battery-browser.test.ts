/**
 * The battery report in a real browser (Debian's Chromium, headless, scripts/setup.sh installs it): every chart
 * is laid out at a real size with marks in it, nothing is fetched but the file itself, no console message or
 * error, and a full-page screenshot is saved (.cache/battery-report.png) for a person to look at.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTestGuardians } from '../tools/src/lib/keygen.js';
import { Browser } from './helpers/chromium.js';
import { shidi } from './helpers/cli.js';
import { ROOT, scratch } from './helpers/fixtures.js';

const tmp = scratch('shidi-battery-browser-');
const report = join(tmp.dir, 'battery-report.html');
const shot = join(ROOT, '.cache', 'battery-report.png');
let browser: Browser;

beforeAll(async () => {
  const pool = join(tmp.dir, 'pool');
  await makeTestGuardians(pool, { deviceSignature: true });
  const r = await shidi(['battery', '--slice-seconds', '20', '--photo-every', '10', '--gps-every', '10', '--keys', pool, '--report', report]);
  expect(r.code, r.stderr).toBe(0);
  browser = await Browser.launch();
});
afterAll(async () => {
  await browser?.close();
  tmp.cleanup();
});

interface Laid {
  chart: string;
  width: number;
  height: number;
  paths: number;
  texts: number;
}

describe('the report in Chromium', () => {
  it('draws every chart with marks, fetches nothing but itself, logs nothing, and is saved as a screenshot', async () => {
    const s = await browser.page();
    await browser.send('Emulation.setDeviceMetricsOverride', { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false }, s);
    const loaded = browser.waitFor('Page.loadEventFired', s);
    const url = pathToFileURL(report).href;
    await browser.send('Page.navigate', { url }, s);
    await loaded;
    const { result } = (await browser.send(
      'Runtime.evaluate',
      {
        returnByValue: true,
        expression: `[...document.querySelectorAll('figure[data-chart]')].map((f) => {
          const svg = f.querySelector('svg'); const r = svg.getBoundingClientRect();
          return { chart: f.dataset.chart, width: r.width, height: r.height,
                   paths: svg.querySelectorAll('path').length, texts: svg.querySelectorAll('text').length };
        })`,
      },
      s,
    )) as { result: { value: Laid[] } };
    const charts = result.value;
    expect(charts.map((c) => c.chart)).toEqual([
      'energy over time',
      'breakdown',
      'state of charge',
      'life against the photo interval',
      'life against the GPS interval',
    ]);
    for (const c of charts) {
      expect(c.width, c.chart).toBeGreaterThan(200);
      expect(c.height, c.chart).toBeGreaterThan(150);
      expect(c.paths, c.chart).toBeGreaterThan(3);
      expect(c.texts, c.chart).toBeGreaterThan(5);
    }
    // The headline as the reader sees it.
    const { result: head } = (await browser.send('Runtime.evaluate', { returnByValue: true, expression: 'document.querySelector(".lead").innerText' }, s)) as {
      result: { value: string };
    };
    expect(head.value).toMatch(/^[\d.]+ h — reference board, default scenario: [\d.]+ h on the 1000 mAh cell/);

    const metrics = (await browser.send('Page.getLayoutMetrics', {}, s)) as { cssContentSize: { width: number; height: number } };
    const { width, height } = metrics.cssContentSize;
    const { data } = (await browser.send(
      'Page.captureScreenshot',
      { format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width, height, scale: 1 } },
      s,
    )) as { data: string };
    mkdirSync(join(ROOT, '.cache'), { recursive: true });
    writeFileSync(shot, Buffer.from(data, 'base64'));
    const png = readFileSync(shot);
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.readUInt32BE(16)).toBe(Math.ceil(width)); // IHDR width
    expect(statSync(shot).size).toBeGreaterThan(50_000);

    const requests = browser.events.filter((e) => e.method === 'Network.requestWillBeSent').map((e) => (e.params.request as { url: string }).url);
    expect(requests).toEqual([url]);
    const said = browser.events.filter(
      (e) => e.method === 'Runtime.consoleAPICalled' || e.method === 'Runtime.exceptionThrown' || e.method === 'Log.entryAdded',
    );
    expect(said).toEqual([]);
  });
});
