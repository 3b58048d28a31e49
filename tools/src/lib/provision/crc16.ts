/**
 * CRC-16/XMODEM (poly 0x1021, init 0x0000, unreflected, no final xor; check value 0x31C3 over "123456789"),
 * the provisioning frame's check (docs/provisioning.md). A table-free bitwise loop: frames are small and
 * this is written apart from the core's (assembly/prov-crc.ts) so that the two check each other.
 */
export function crc16Xmodem(bytes: Uint8Array, crc = 0): number {
  let c = crc & 0xffff;
  for (const b of bytes) {
    c ^= b << 8;
    for (let i = 0; i < 8; i++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
  }
  return c;
}
