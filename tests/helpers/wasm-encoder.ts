// A tiny wasm assembler: enough to write modules with imports, a memory, functions and custom sections, so
// tests can hand the simulator modules the AssemblyScript compiler would never produce.
export const leb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
export const str = (s: string): number[] => [...leb(Buffer.byteLength(s)), ...Buffer.from(s, 'utf8')];
export const vec = (items: number[][]): number[] => [...leb(items.length), ...items.flat()];
export const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
export const I32 = 0x7f;
export const I64 = 0x7e;
export const functype = (params: number[], results: number[]): number[] => [0x60, ...vec(params.map((p) => [p])), ...vec(results.map((r) => [r]))];
export const funcImport = (mod: string, name: string, type: number): number[] => [...str(mod), ...str(name), 0x00, ...leb(type)];
export const custom = (name: string, payload: number[]): number[] => section(0, [...str(name), ...payload]);
export const wasm = (...sections: number[][]): Uint8Array => new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...sections.flat()]);
