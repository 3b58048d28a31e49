/**
 * What the hardware blocks did during a run, in the units the board's figures are given in: bytes through the
 * AES and SHA engines, RSA operations by key size, TRNG bytes, SD bytes, syncs and directory updates, flash
 * bytes. Read from the HAL trace (host-sim/src/trace.ts: one line per call, the same under both bodies), which
 * gives every buffer's length and every number argument, where the meter keeps one byte sum per import.
 */
import { SdMode, ShaAlgo } from '../../../../host-sim/src/abi.generated.js';
import { HAL_IMPORTS, type HalImportSpec } from '../../../../host-sim/src/hal-table.generated.js';

export interface Work {
  /** Every HAL call (each costs the CPU a native call and a driver's set-up). */
  hal_calls: number;
  /** Bytes through the AES engine (CTR, CBC, CBC-MAC inputs). */
  aes_bytes: number;
  /** Bytes the SHA engine compresses: each message padded to whole blocks (64 bytes for SHA-256, 128 for SHA-512). */
  sha_bytes: number;
  /** rsa_public operations, by modulus size in bits. */
  rsa_public: Record<string, number>;
  /** se_sign operations (the DS peripheral's private-key operation), by key size in bits. */
  ds_sign: Record<string, number>;
  /** se_generate calls: the device key made (first boot) or unsealed (later boots). */
  se_generate: number;
  trng_bytes: number;
  /** Bytes through the software ChaCha20-Poly1305 service. */
  chacha_bytes: number;
  ecdsa_verify: number;
  sd_write_bytes: number;
  sd_read_bytes: number;
  sd_syncs: number;
  /** Files created, renamed or removed: each rewrites a directory entry and the FAT. */
  sd_metadata_ops: number;
  /** Bytes committed to the device state store (NVS in flash on the device). */
  state_bytes: number;
  state_commits: number;
}

export const emptyWork = (): Work => ({
  hal_calls: 0,
  aes_bytes: 0,
  sha_bytes: 0,
  rsa_public: {},
  ds_sign: {},
  se_generate: 0,
  trng_bytes: 0,
  chacha_bytes: 0,
  ecdsa_verify: 0,
  sd_write_bytes: 0,
  sd_read_bytes: 0,
  sd_syncs: 0,
  sd_metadata_ops: 0,
  state_bytes: 0,
  state_commits: 0,
});

const addCounts = (into: Record<string, number>, from: Record<string, number>, k = 1) => {
  for (const [bits, n] of Object.entries(from)) into[bits] = (into[bits] ?? 0) + n * k;
};

/** a + k·b, field by field (k = 1 sums two runs' work). */
export function addWork(a: Work, b: Work, k = 1): Work {
  const out = emptyWork();
  for (const key of Object.keys(out) as (keyof Work)[]) {
    const va = a[key];
    const vb = b[key];
    if (typeof va === 'number' && typeof vb === 'number') (out[key] as number) = va + k * vb;
    else {
      addCounts(out[key] as Record<string, number>, va as Record<string, number>);
      addCounts(out[key] as Record<string, number>, vb as Record<string, number>, k);
    }
  }
  return out;
}

/** A message of n bytes as the SHA engine compresses it: padding and length field, up to whole blocks. */
export function shaBlockBytes(n: number, algo: number): number {
  if (algo === ShaAlgo.SHA512) return Math.ceil((n + 17) / 128) * 128;
  return Math.ceil((n + 9) / 64) * 64;
}

const SPECS = new Map<string, HalImportSpec>(HAL_IMPORTS.map((s) => [s.name, s]));
/** One argument as the trace prints it: a number, or a buffer as its length. */
const ARG = /([a-z_0-9]+)=(?:"([^"]*)"|\[(\d+)(?: secret)?\](?: [0-9a-f]+(?:\.\.\.)?)?|(-?\d+))(, |\))/y;

export class TraceFormatError extends Error {
  override readonly name = 'TraceFormatError';
}

/** The arguments of one trace line by name (buffers as their length) and its result (null: void or a trap). */
export function parseTraceLine(line: string): { name: string; args: Record<string, number>; result: number | null } {
  const open = line.indexOf('(');
  const name = line.slice(0, open);
  const spec = SPECS.get(name);
  if (open < 0 || spec === undefined) throw new TraceFormatError(`not a HAL trace line: ${line.slice(0, 80)}`);
  const args: Record<string, number> = {};
  ARG.lastIndex = open + 1;
  if (spec.params.length === 0) {
    if (line[open + 1] !== ')') throw new TraceFormatError(`${name} takes no arguments: ${line.slice(0, 80)}`);
    ARG.lastIndex = open + 2;
  }
  for (let i = 0; i < spec.params.length; i++) {
    const m = ARG.exec(line);
    if (m === null || m[1] !== spec.params[i]!.name) throw new TraceFormatError(`cannot read argument ${spec.params[i]!.name} of: ${line.slice(0, 120)}`);
    args[m[1]] = m[2] !== undefined ? m[2].length : Number(m[3] ?? m[4]);
  }
  const tail = line.slice(ARG.lastIndex);
  const r = /^ -> (-?\d+)$/.exec(tail);
  return { name, args, result: r ? Number(r[1]) : null };
}

type Counter = Exclude<keyof Work, 'rsa_public' | 'ds_sign'>;

/**
 * Turns trace lines into Work. Each call's units go to every Work in `into` (the caller points it at the
 * current time bin and at the kind of frame being pushed).
 */
export class WorkMeter {
  into: Work[] = [emptyWork()];
  /** Open SHA streams: their algorithm and the bytes fed so far (a handle is reused once finished). */
  private readonly streams = new Map<number, { algo: number; bytes: number }>();

  private add(key: Counter, n: number): void {
    for (const w of this.into) w[key] += n;
  }
  private op(key: 'rsa_public' | 'ds_sign', bits: number): void {
    for (const w of this.into) w[key][String(bits)] = (w[key][String(bits)] ?? 0) + 1;
  }

  line(text: string): void {
    const { name, args, result } = parseTraceLine(text);
    this.add('hal_calls', 1);
    if (result !== null && result < 0) return; // a refused call did no work
    switch (name) {
      case 'aes_cbc_encrypt':
      case 'aes_ctr_xor':
      case 'aes_cbc_mac':
        this.add('aes_bytes', args.input!);
        break;
      case 'sha_digest':
        this.add('sha_bytes', shaBlockBytes(args.input!, args.algo!));
        break;
      case 'sha_begin':
        if (result !== null) this.streams.set(result, { algo: args.algo!, bytes: 0 });
        break;
      case 'sha_update': {
        const s = this.streams.get(args.handle!);
        if (s) s.bytes += args.input!;
        break;
      }
      case 'sha_finish': {
        const s = this.streams.get(args.handle!);
        this.streams.delete(args.handle!);
        if (s) this.add('sha_bytes', shaBlockBytes(s.bytes, s.algo));
        break;
      }
      case 'rsa_public':
        this.op('rsa_public', args.modulus! * 8);
        break;
      case 'se_sign':
        this.op('ds_sign', args.input! * 8);
        break;
      case 'se_generate':
        this.add('se_generate', 1);
        break;
      case 'trng_fill':
        this.add('trng_bytes', args.output!);
        break;
      case 'chacha20poly1305_update':
        this.add('chacha_bytes', args.input!);
        break;
      case 'ecdsa_p256_verify':
        this.add('ecdsa_verify', 1);
        break;
      case 'sd_write':
        this.add('sd_write_bytes', args.data!);
        break;
      case 'sd_read':
        this.add('sd_read_bytes', result ?? 0);
        break;
      case 'sd_sync':
        this.add('sd_syncs', 1);
        break;
      case 'sd_open':
        if (args.mode === SdMode.CREATE) this.add('sd_metadata_ops', 1);
        break;
      case 'sd_rename':
      case 'sd_remove':
        this.add('sd_metadata_ops', 1);
        break;
      case 'state_commit':
        this.add('state_bytes', args.data!);
        this.add('state_commits', 1);
        break;
    }
  }
}
