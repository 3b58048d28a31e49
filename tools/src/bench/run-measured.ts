/**
 * Runs one `shidi` command in this (fresh) process and appends its wall time and peak RSS to stderr as
 * "@@measure {json}", so benchmarks and the memory test measure the CLI alone, not their own buffers.
 */
import { main } from '../cli/main.js';

const t0 = performance.now();
const code = await main(process.argv.slice(2));
const ms = performance.now() - t0;
process.stderr.write(`\n@@measure ${JSON.stringify({ code, ms, maxRssKiB: process.resourceUsage().maxRSS })}\n`);
process.exitCode = code;
