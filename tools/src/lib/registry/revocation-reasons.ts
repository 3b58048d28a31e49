/**
 * CRL reason codes (RFC 5280 §5.3.1, CRLReason) by the names the CLI takes. The numbers themselves, not
 * @peculiar/x509's X509CrlReason, so that the CLI's option list does not load the library; in a module of
 * their own so that it does not load the registry's code either.
 */
export const REVOCATION_REASONS = {
  unspecified: 0,
  'key-compromise': 1,
  superseded: 4,
  'cessation-of-operation': 5,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;
