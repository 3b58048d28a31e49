/**
 * Source folders of crates that npm run setup fetched into cargo's registry, as cargo metadata names them
 * (offline): the C headers the firmware's compile checks use (WAMR's from wamrx-sys, mbedTLS 3.x's from
 * mbedtls-rs-sys), never vendored into the repo.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { ROOT } from './fixtures.js';

const FW = join(ROOT, 'firmware');

export function crateDir(manifest: string, name: string): string {
  const out = execFileSync('cargo', ['metadata', '--format-version', '1', '--offline', '--manifest-path', manifest], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const pkg = (JSON.parse(out) as { packages: { name: string; manifest_path: string }[] }).packages.find((p) => p.name === name);
  if (!pkg) throw new Error(`${name} is not in ${manifest}'s metadata — run npm run setup (it fetches the crate)`);
  return dirname(pkg.manifest_path);
}

/** WAMR's public headers (wasm_export.h), from the Linux runner's crate. */
export const wamrInclude = () => join(crateDir(join(FW, 'host-linux', 'Cargo.toml'), 'wamrx-sys'), 'wasm-micro-runtime', 'core', 'iwasm', 'include');
/** mbedTLS 3.6's headers (ESP-IDF 5's mbedTLS major), from the crate firmware/mbedtls3-check fetches. */
export const mbedtls3Include = () => join(crateDir(join(FW, 'mbedtls3-check', 'Cargo.toml'), 'mbedtls-rs-sys'), 'mbedtls', 'include');
