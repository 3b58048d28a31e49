// Every random byte the core uses comes through here: the TRNG, watched by health tests before any key is
// drawn from it (docs/hal-abi.md, "TRNG health tests").
//
// The tests are NIST SP 800-90B §4.4's two approved continuous health tests, the Repetition Count Test
// (RCT, §4.4.1) and the Adaptive Proportion Test (APT, §4.4.2), run over every byte trng_fill returns, each
// byte one 8-bit sample, continuously across calls and slices. The core only watches the output: it does
// not condition, reseed or mix it; a byte that passes is the byte used.
//
// On the ESP32-S3 the samples are the RNG block's output register (RNG_DATA_REG, read by esp_fill_random):
// already post-processed by the hardware, which mixes its noise sources (SAR ADC / RF noise while Wi-Fi,
// BT or bootloader_random_enable() is on, and an always-on 8 MHz oscillator). These tests therefore catch
// a failed or disconnected generator (stuck register, stuck bits, a body handing back a zeroed buffer),
// not a subtle loss of entropy, and no test on the output can tell true randomness from the pseudo-random
// output the S3 gives with its entropy sources off: enabling them is the firmware's duty.
//
// State lives in plain globals and static memory, never in the heap: the heap is an arena that the core
// rewinds with __reset() at every slice boundary.
import { fail, hal } from "./errors";
import { LOG_ERROR } from "./abi";
import { C_TRNG_HEALTH, log_write, trng_fill } from "./hal";

// --- parameters (docs/hal-abi.md, "TRNG health tests"; tests/trng-health.test.ts recomputes them) ------

/**
 * H, the min-entropy assumed per 8-bit sample, in bits. Espressif publishes no SP 800-90B assessment of the
 * S3's RNG; its output passes statistical batteries (Dieharder), i.e. it looks close to full entropy (8 bits
 * a byte). 90B's cutoffs are valid only for an H at most the source's true min-entropy (a larger H makes
 * false alarms likelier than α), so one bit of the eight is not credited: H = 7, i.e. a most likely byte
 * value of probability up to 2^-7 is still "healthy".
 */
export const ASSUMED_MIN_ENTROPY_BITS: i32 = 7;
/**
 * α = 2^-30, the false-positive probability of each test per sample (90B §4.4 recommends 2^-20 <= α <=
 * 2^-40). With H = 7 the real rate on a full-entropy output is far lower (about 2^-40 per sample for the RCT).
 */
export const ALPHA_LOG2: i32 = 30;
/**
 * RCT cutoff C = 1 + ceil(-log2(α) / H) = 1 + ceil(30 / 7) = 6: six identical samples in a row fail. For a
 * source of min-entropy H, P(C identical in a row) <= 2^(-H (C - 1)) = 2^-35 <= α.
 */
export const RCT_CUTOFF: i32 = 6;
/** APT window W: 512 samples (90B's W for non-binary samples). */
export const APT_WINDOW: i32 = 512;
/**
 * APT cutoff: the smallest C with P(X >= C) <= α for X ~ Binomial(W = 512, p = 2^-H = 2^-7), i.e. 90B's
 * C = 1 + CRITBINOM(W, 2^-H, 1 - α). Computed exactly with rationals: P(X >= 22) = 2.5e-10 <= 2^-30 = 9.3e-10
 * < P(X >= 21) = 1.5e-9, so C = 22: 22 occurrences of a window's first sample in its 512 fail. (For
 * α = 2^-20 the same computation gives 90B's Table 2: 311, 177, 62, 13 for H = 1, 2, 4, 8.)
 */
export const APT_CUTOFF: i32 = 22;
/** Start-up testing (90B §4.3): 1024 samples drawn, tested and discarded before the first key. */
export const STARTUP_SAMPLES: i32 = 1024;

// --- state -------------------------------------------------------------------------------------------

/** Once a test fails, the noise source stays failed for the whole run (90B §4.3, persistent failure). */
let sourceFailed = false;
/** RCT: the last sample (-1 before the first) and the length of the run of it that ends here. */
let rctLast: i32 = -1;
let rctRun: i32 = 0;
/** APT: the current window's first sample, its count so far, and how many samples of the window are seen. */
let aptValue: i32 = 0;
let aptCount: i32 = 0;
let aptSeen: i32 = 0;

const STARTUP_CHUNK: i32 = 256;
const STARTUP_BUF: usize = memory.data(STARTUP_CHUNK, 16);
const LOG_BUF_SIZE: i32 = 128;
const LOG_BUF: usize = memory.data(LOG_BUF_SIZE);

/** One line to the console (ASCII only; it names the test, never a sample). */
function logError(message: string): void {
  const n = min(message.length, LOG_BUF_SIZE);
  for (let i = 0; i < n; i++) store<u8>(LOG_BUF + <usize>i, <u8>message.charCodeAt(i));
  log_write(LOG_ERROR, LOG_BUF, n);
}

const PASSED: i32 = 0;
const RCT_FAILED: i32 = 1;
const APT_FAILED: i32 = 2;

/** Runs both tests over [ptr, ptr+len): PASSED, or which test failed first (the source is then failed). */
function testSamples(ptr: usize, len: i32): i32 {
  // The samples become keys: the counters are updated with masks, so only a failure (a public event) and the
  // window position (a count) branch.
  for (let i = 0; i < len; i++) {
    const x = <i32>load<u8>(ptr + <usize>i);
    // Repetition Count Test (§4.4.1): the length of the run of equal samples ending here.
    // @ts-expect-error: AssemblyScript casts a bool to 0 or 1 without a branch; TypeScript has no such cast
    rctRun = (rctRun & -(<i32>(x == rctLast))) + 1;
    rctLast = x;
    if (rctRun >= RCT_CUTOFF) {
      sourceFailed = true;
      return RCT_FAILED;
    }
    // Adaptive Proportion Test (§4.4.2): a window's first sample is counted, then compared with each of
    // the window's other W - 1 samples.
    if (aptSeen == 0) {
      aptValue = x;
      aptCount = 1;
    } else {
      // @ts-expect-error: as above, a branch-free 0 or 1
      aptCount += <i32>(x == aptValue);
      if (aptCount >= APT_CUTOFF) {
        sourceFailed = true;
        return APT_FAILED;
      }
    }
    aptSeen++;
    if (aptSeen == APT_WINDOW) aptSeen = 0;
  }
  return PASSED;
}

/** Reports a failed test (after the samples are wiped) and marks the core failed with C_TRNG_HEALTH. */
function healthFailure(which: i32): void {
  if (which == RCT_FAILED) logError("TRNG health: repetition count test failed (SP 800-90B 4.4.1); no more random bytes this run");
  else logError("TRNG health: adaptive proportion test failed (SP 800-90B 4.4.2); no more random bytes this run");
  fail(C_TRNG_HEALTH);
}

/**
 * Fills [ptr, ptr+len) from the TRNG, every byte through the health tests. On a failed test the core fails
 * with C_TRNG_HEALTH and the output is all zeros before anything else happens (the bytes of the failing call
 * are never usable); once failed, every later call fails the same way without asking the TRNG. A HAL error
 * (E_HW) fails with C_HAL, the output zeroed too.
 */
export function random(ptr: usize, len: i32): void {
  if (len < 0) len = 0;
  if (sourceFailed) {
    memory.fill(ptr, 0, <usize>len);
    fail(C_TRNG_HEALTH);
    return;
  }
  const r = trng_fill(ptr, len);
  if (r < 0) {
    memory.fill(ptr, 0, <usize>len);
    hal(r);
    return;
  }
  const t = testSamples(ptr, len);
  if (t != PASSED) {
    memory.fill(ptr, 0, <usize>len);
    healthFailure(t);
  }
}

/**
 * The start-up test (90B §4.3), run by core_configure before any key exists: STARTUP_SAMPLES samples drawn
 * through the continuous tests and discarded. False if a test fails, the source had already failed, or the
 * TRNG reported an error.
 */
export function startupHealthTest(): bool {
  for (let done = 0; done < STARTUP_SAMPLES; done += STARTUP_CHUNK) {
    const n = min(STARTUP_CHUNK, STARTUP_SAMPLES - done);
    if (sourceFailed) return false;
    const r = trng_fill(STARTUP_BUF, n);
    const t = r < 0 ? PASSED : testSamples(STARTUP_BUF, n);
    memory.fill(STARTUP_BUF, 0, <usize>n);
    if (r < 0) {
      hal(r);
      return false;
    }
    if (t != PASSED) {
      healthFailure(t);
      return false;
    }
  }
  return true;
}

/** True once a health test has failed: the TRNG gives nothing more this run. */
export function healthFailed(): bool {
  return sourceFailed;
}
