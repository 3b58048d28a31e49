/**
 * The one place that loads @peculiar/x509: it needs reflect-metadata in place before it is evaluated, and
 * a WebCrypto provider, which here is Node's own (the same OpenSSL that `openssl verify` uses).
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A WebCrypto key, as the library signs with. */
export type CryptoKey = webcrypto.CryptoKey;

export { x509 };
export const subtle = webcrypto.subtle;

/** The CA's signature algorithm (docs/registry.md explains the choice of ECDSA P-256). */
export const CA_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** OpenSSL reads CRLs under this label only (the library's default, "CRL", it refuses). */
export const CRL_PEM_LABEL = 'X509 CRL';
