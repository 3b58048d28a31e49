/**
 * SLIP framing as the ESP ROM loader uses it (esptool's serial protocol): a frame is `C0 … C0`, with C0 sent
 * as `DB DC` and DB as `DB DD` inside. The decoder takes bytes in whatever pieces a port delivers them, skips
 * runs of C0 between frames, and reports bytes outside any frame (a boot log, line noise) separately.
 */
export const SLIP_END = 0xc0;
export const SLIP_ESC = 0xdb;
const ESC_END = 0xdc;
const ESC_ESC = 0xdd;

export function slipEncode(data: Uint8Array): Uint8Array {
  let extra = 0;
  for (const b of data) if (b === SLIP_END || b === SLIP_ESC) extra++;
  const out = new Uint8Array(data.length + extra + 2);
  let o = 0;
  out[o++] = SLIP_END;
  for (const b of data) {
    if (b === SLIP_END) {
      out[o++] = SLIP_ESC;
      out[o++] = ESC_END;
    } else if (b === SLIP_ESC) {
      out[o++] = SLIP_ESC;
      out[o++] = ESC_ESC;
    } else out[o++] = b;
  }
  out[o] = SLIP_END;
  return out;
}

export interface SlipEvents {
  frame(data: Uint8Array): void;
  /** Bytes seen outside any frame, and frames dropped for a bad escape. */
  noise?(data: Uint8Array): void;
}

export class SlipDecoder {
  private inFrame = false;
  private escaping = false;
  private buf: number[] = [];
  private noise: number[] = [];

  constructor(private readonly on: SlipEvents) {}

  push(bytes: Uint8Array): void {
    for (const b of bytes) {
      if (!this.inFrame) {
        if (b === SLIP_END) {
          this.flushNoise();
          this.inFrame = true;
          this.buf = [];
        } else this.noise.push(b);
        continue;
      }
      if (this.escaping) {
        this.escaping = false;
        if (b === ESC_END) this.buf.push(SLIP_END);
        else if (b === ESC_ESC) this.buf.push(SLIP_ESC);
        else {
          // A broken escape spoils the frame: drop it and wait for the next C0.
          this.noise.push(SLIP_ESC, b, ...this.buf);
          this.buf = [];
          this.inFrame = false;
        }
        continue;
      }
      if (b === SLIP_ESC) this.escaping = true;
      else if (b === SLIP_END) {
        // An empty frame is the second C0 of a back-to-back pair: it opens the next frame.
        if (this.buf.length > 0) {
          const frame = Uint8Array.from(this.buf);
          this.buf = [];
          this.inFrame = false;
          this.on.frame(frame);
        }
      } else this.buf.push(b);
    }
    this.flushNoise();
  }

  private flushNoise(): void {
    if (this.noise.length === 0) return;
    const n = Uint8Array.from(this.noise);
    this.noise = [];
    this.on.noise?.(n);
  }
}
