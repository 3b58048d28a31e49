/**
 * Runs one `shidi` command in this (fresh) process and appends its wall time and peak RSS to stderr as
 * "@@measure {json}", so benchmarks and the memory test measure the CLI alone, not their own buffers.
 */
import { existsSync } from 'node:fs';
import { main } from '../cli/main.js';

// The command's action module is loaded before the clock starts, as main.js's static imports used to load
// everything: the figure is the command's work, as the reference's is its loop, not Node loading modules.
// The peak RSS still counts the module, which the command loads anyway.
const action = new URL(`../cli/commands/${process.argv[2]}-action.js`, import.meta.url);
if (/^[a-z]+$/.test(process.argv[2] ?? '') && existsSync(action)) await import(action.href);

const t0 = performance.now();
const c0 = process.cpuUsage();
const code = await main(process.argv.slice(2));
const ms = performance.now() - t0;
// CPU time of every thread of the process (a digest worker's too) over the same window: steadier than wall
// time when the disk's write-back makes the wall time swing.
const cpu = process.cpuUsage(c0);
const cpuMs = (cpu.user + cpu.system) / 1000;
process.stderr.write(`\n@@measure ${JSON.stringify({ code, ms, cpuMs, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
process.exitCode = code;
