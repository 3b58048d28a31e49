/**
 * Which core slot an update goes to. The firmware's loader boots the valid slot with the higher
 * anti-rollback counter (on equal counters, the one it booted last), so the update goes to the slot it
 * would not boot: an erased or malformed one first, else the one with the lower counter. Only the two
 * 96-byte headers are read from the device; a header is judged with the host verifier's own structural
 * checks (docs/core-image.md, checks 1–5 and 8), the signature being checked on the new image only.
 */
import { HAL_ABI_VERSION } from '../../../../host-sim/src/hal-table.generated.js';
import { CORE_HEADER_LEN, CoreImageRefused, readCoreHeader, verifyCoreImage } from '../core-image.js';

export type SlotName = 'core_a' | 'core_b';

export interface SlotState {
  slot: SlotName;
  /** erased: all FF; invalid: a header the loader refuses before reading further; valid: a well-formed header. */
  state: 'erased' | 'invalid' | 'valid';
  counter: number | null;
  wasmSha256: string | null;
  keyId: string | null;
  /** Header plus module plus signature, when valid. */
  imageLength: number | null;
  problem: string | null;
}

export function slotState(slot: SlotName, header: Uint8Array, maxWasmLen: number): SlotState {
  const none = { counter: null, wasmSha256: null, keyId: null, imageLength: null };
  if (header.length >= CORE_HEADER_LEN && header.subarray(0, CORE_HEADER_LEN).every((b) => b === 0xff))
    return { slot, state: 'erased', ...none, problem: null };
  try {
    // A header alone passes the format, scheme and length checks and then stops at "truncated": that is a
    // well-formed header; any earlier refusal is the loader's reason to skip the slot.
    verifyCoreImage(header.subarray(0, CORE_HEADER_LEN), { keys: [], maxWasmLen, exactLength: false });
  } catch (e) {
    if (!(e instanceof CoreImageRefused)) throw e;
    if (e.refusal !== 'truncated') return { slot, state: 'invalid', ...none, problem: `${e.refusal}: ${e.message.split(' — ')[0]}` };
  }
  const h = readCoreHeader(header);
  if (h.abiVersion !== HAL_ABI_VERSION)
    return { slot, state: 'invalid', ...none, problem: `abi: a core for HAL ABI v${h.abiVersion}, the firmware speaks v${HAL_ABI_VERSION}` };
  return {
    slot,
    state: 'valid',
    counter: h.counter,
    wasmSha256: h.wasmSha256.toString('hex'),
    keyId: h.keyId.toString('hex'),
    imageLength: CORE_HEADER_LEN + h.wasmLen + h.signatureLen,
    problem: null,
  };
}

export interface SlotChoice {
  slot: SlotName;
  why: string;
  /** The slot the device boots now (the other one), when it has a valid header. */
  running: SlotState | null;
}

/** The slot to write: not the one the loader would boot. */
export function chooseSlot(a: SlotState, b: SlotState): SlotChoice {
  if (a.state !== 'valid' && b.state !== 'valid') return { slot: 'core_a', why: 'neither slot holds a core', running: null };
  if (a.state !== 'valid') return { slot: 'core_a', why: `core_a ${a.state === 'erased' ? 'is erased' : `holds no valid core (${a.problem})`}`, running: b };
  if (b.state !== 'valid') return { slot: 'core_b', why: `core_b ${b.state === 'erased' ? 'is erased' : `holds no valid core (${b.problem})`}`, running: a };
  if (a.counter! < b.counter!) return { slot: 'core_a', why: `core_a holds the older core (counter ${a.counter} < ${b.counter})`, running: b };
  if (b.counter! < a.counter!) return { slot: 'core_b', why: `core_b holds the older core (counter ${b.counter} < ${a.counter})`, running: a };
  return { slot: 'core_b', why: `both slots hold counter ${a.counter}; the loader boots the one it booted last, which the tool cannot see`, running: a };
}
