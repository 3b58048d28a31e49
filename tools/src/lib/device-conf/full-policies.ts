/** What a full card does (docs/device-conf.md key 7), by the names the CLI takes: on their own so that its option lists do not load the compiler. */
export const FULL_POLICIES = ['stop', 'delete-oldest'] as const;
export type FullPolicy = (typeof FULL_POLICIES)[number];
