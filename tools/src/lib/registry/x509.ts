/**
 * The one place that loads @peculiar/x509, and only when a certificate or CRL is first handled: the library
 * and what it pulls in (reflect-metadata, tsyringe, the ASN.1 schemas) add ~20 MiB to a process, which
 * commands without a registry (`shidi decrypt` of a recording) must not pay (issue 17). Loading stays
 * synchronous, so that parsing a certificate stays a synchronous call: the package's CommonJS build (its
 * `main`, which is also what an `import` of it gives) through require. It needs reflect-metadata in place
 * before it is evaluated, and a WebCrypto provider, which here is Node's own (the same OpenSSL that
 * `openssl verify` uses).
 */
import { webcrypto } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as AsnSchema from '@peculiar/asn1-schema';
import type * as AsnX509 from '@peculiar/asn1-x509';
import type * as X509 from '@peculiar/x509';

const require = createRequire(import.meta.url);
let x509: typeof X509 | undefined;

/** @peculiar/x509, loaded and given its crypto provider on first use. */
export function loadX509(): typeof X509 {
  if (!x509) {
    require('reflect-metadata');
    const lib = require('@peculiar/x509') as typeof X509;
    lib.cryptoProvider.set(webcrypto as unknown as Parameters<typeof lib.cryptoProvider.set>[0]);
    x509 = lib;
  }
  return x509;
}

/** The ASN.1 layer under @peculiar/x509, for the extension it has no class for (the CRL number). */
export function loadAsn1(): { AsnConvert: typeof AsnSchema.AsnConvert; CRLNumber: typeof AsnX509.CRLNumber; id_ce_cRLNumber: string } {
  const { AsnConvert } = require('@peculiar/asn1-schema') as typeof AsnSchema;
  const { CRLNumber, id_ce_cRLNumber } = require('@peculiar/asn1-x509') as typeof AsnX509;
  return { AsnConvert, CRLNumber, id_ce_cRLNumber };
}

/** A WebCrypto key, as the library signs with. */
export type CryptoKey = webcrypto.CryptoKey;

export const subtle = webcrypto.subtle;

/** The CA's signature algorithm (docs/registry.md explains the choice of ECDSA P-256). */
export const CA_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

/** OpenSSL reads CRLs under this label only (the library's default, "CRL", it refuses). */
export const CRL_PEM_LABEL = 'X509 CRL';
