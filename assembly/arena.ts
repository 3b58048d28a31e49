// How the core forgets. Everything a slice computes (keys, derived keys, key text, cipher states, shares)
// lives in the per-slice arena, the stub runtime's bump allocator above __heap_base, or in one of the few
// static buffers registered here. `wipeArena` is the only way the arena is rewound whole: it zeroes every
// byte the arena reached since the previous wipe, and every registered static, before rewinding (within a
// slice, `rewindTo` gives back a dead tail, zeroed too, and the peak still covers it). The core calls it
// at every slice boundary, at core_finish, on every failure and before the conf is (re)parsed, so a RAM
// dump taken after any of them holds no key of a slice that is over.
//
// The allocator does not remember how high it went: freeing the last block lowers its top. So every free
// goes through `release`, which notes the top first; the peak is then exact, and the wipe covers it.

/** The wipe's static buffers: (pointer, length) pairs, registered once at start. */
const MAX_SECRET_STATICS: i32 = 8;
const SECRET_STATICS: usize = memory.data(MAX_SECRET_STATICS * 8);
let secretStatics: i32 = 0;

/** Highest allocator top since the last wipe (what the next wipe zeroes up to). */
let slicePeak: usize = 0;
/** Highest allocator top since instantiation (core_heap_high_water). */
let runPeak: usize = 0;

/**
 * Declares a static buffer that may hold key material or text derived from it: every wipe zeroes it.
 * Returns ptr, so a module writes `const BUF = secretStatic(memory.data(64), 64)`.
 */
export function secretStatic(ptr: usize, len: i32): usize {
  assert(secretStatics < MAX_SECRET_STATICS);
  const e = SECRET_STATICS + <usize>(secretStatics * 8);
  store<u32>(e, <u32>ptr);
  store<u32>(e + 4, <u32>len);
  secretStatics++;
  return ptr;
}

/** The allocator's current top (the address of the next block's payload). */
export function arenaTop(): usize {
  const p = __alloc(0);
  __free(p);
  return p;
}

/** Notes the current top in both peaks; returns it. */
export function notePeak(): usize {
  const t = arenaTop();
  if (t > slicePeak) slicePeak = t;
  if (t > runPeak) runPeak = t;
  return t;
}

export function runHighWater(): usize {
  notePeak();
  return runPeak;
}

/** The stub allocator's header below each block: the block's payload size. */
const BLOCK_OVERHEAD: usize = 4;

/** The arena's top now, for `rewindTo` once what is allocated after it is dead. */
export function arenaMark(): usize {
  return notePeak();
}

/**
 * Gives back, zeroed, everything allocated since `mark` (what `arenaMark` returned), so that a loop over a
 * conf's shards takes the arena of one shard, not of all. Every block above the mark must be dead, and no
 * block below it may have grown since (a growing MemSink moves above the mark: callers ask their sink
 * `allocates()`). The stub allocator gives back only its last block, so one block spanning [mark, top) is
 * written in its header format and freed; the assert catches a runtime whose layout differs.
 */
export function rewindTo(mark: usize): void {
  const top = notePeak();
  if (top == mark) return;
  const end = top - BLOCK_OVERHEAD; // the allocator's offset: where the next block's header goes
  memory.fill(mark, 0, end - mark);
  store<u32>(mark - BLOCK_OVERHEAD, <u32>(end - mark));
  heap.free(mark);
  assert(arenaTop() == mark);
}

/** Frees an arena block (only the last block is actually given back) without losing the peak. */
export function release(p: usize): void {
  notePeak();
  heap.free(p);
}

function wipeStatics(): void {
  for (let i = 0; i < secretStatics; i++) {
    const e = SECRET_STATICS + <usize>(i * 8);
    memory.fill(<usize>load<u32>(e), 0, <usize>load<u32>(e + 4));
  }
}

/** Zeroes the arena up to its peak and every registered static, then rewinds the arena. Returns the bytes zeroed. */
export function wipeArena(): i32 {
  notePeak();
  const n = slicePeak - __heap_base;
  memory.fill(__heap_base, 0, n);
  wipeStatics();
  __reset();
  slicePeak = 0;
  return <i32>n;
}

/**
 * For the abort handler: the allocator may be the one failing, so nothing is allocated; everything above
 * __heap_base is zeroed.
 */
export function wipeAllForAbort(): void {
  memory.fill(__heap_base, 0, ((<usize>memory.size()) << 16) - __heap_base);
  wipeStatics();
}
