/**
 * A registry folder (docs/registry.md):
 *
 *   REG/registry.json            what this folder is: format, name, test flag, CA algorithm
 *   REG/ca-cert.pem              the self-signed CA certificate verifiers trust
 *   REG/private/ca-key.pem       the CA's private key, PKCS#8, encrypted under the passphrase when given (0600)
 *   REG/serial                   the next serial number, decimal
 *   REG/issued/<serial>.pem      every device certificate issued, serial in hex
 *   REG/crl.pem                  the signed revocation list (X.509 CRL), re-signed at every revocation
 */
import { join } from 'node:path';

export const REGISTRY_FORMAT = 'shidi-registry-1';
export const REGISTRY_META = 'registry.json';
export const CA_CERT = 'ca-cert.pem';
export const CA_KEY = join('private', 'ca-key.pem');
export const SERIAL_FILE = 'serial';
export const ISSUED_DIR = 'issued';
export const CRL_FILE = 'crl.pem';

/** Leases are counted in whole days; one year unless told otherwise. */
export const DEFAULT_LEASE_DAYS = 365;
export const MAX_LEASE_DAYS = 3650;
/** The CA outlives every lease it can grant. */
export const CA_VALIDITY_DAYS = 20 * 365;
export const DAY_MS = 86_400_000;

export interface RegistryMeta {
  format: typeof REGISTRY_FORMAT;
  name: string;
  /** A throw-away registry whose CA key has no passphrase: never for real devices. */
  test: boolean;
  ca_algorithm: 'ECDSA P-256 with SHA-256';
  created: string;
}
