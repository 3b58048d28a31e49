/** The guardian keystores keygen makes: key sizes and how many keychains, stated in the CLI's help without loading keygen. */
export const KEY_BITS = [2048, 3072, 4096] as const;
export type KeyBits = (typeof KEY_BITS)[number];
export const MAX_KEYCHAINS = 64;
