/**
 * The flags that loosen or tighten a revelation, named in the library's refusals and in the CLI's help: on
 * their own so that a command's definition does not load the revelation code to state them.
 */
export const UNFINISHED_FLAG = '--allow-unfinished';
export const REQUIRE_SIGNATURE_FLAG = '--require-signature';
