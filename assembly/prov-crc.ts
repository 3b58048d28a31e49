// CRC-16/XMODEM (poly 0x1021, init 0, no reflection, no final xor): MCUmgr's serial transport uses it, so
// a frame's check is the one that console tooling already knows (docs/provisioning.md). It guards against
// line noise and truncation, not against an attacker: authentication is the operator's signature.

/** The CRC of [ptr, ptr+len), continuing from `crc` (0 to start). */
export function crc16(ptr: usize, len: i32, crc: u32 = 0): u32 {
  for (let i = 0; i < len; i++) {
    crc ^= (<u32>load<u8>(ptr + <usize>i)) << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}
