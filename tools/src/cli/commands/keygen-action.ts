/** What `shidi keygen` does once its arguments are parsed: loaded only when it runs, with the code of the kind of key it makes. */
import { resolve } from 'node:path';
import { authenticatorTrustee } from '../../lib/device-conf/default-cryptoconf.js';
import { ExitCode, ShidiError } from '../../lib/errors.js';
import { createGuardianKeystore, type GuardianInfo, makeTestGuardians } from '../../lib/keygen.js';
import { createOperatorKeyFile } from '../../lib/provision/operator-key.js';
import { createRegistry } from '../../lib/registry/store.js';
import { createReleaseKey } from '../../lib/release-key.js';
import { createRequesterKeyFile } from '../../lib/revelation/index.js';
import { dumpEJson, type EJson } from '../../lib/wacryptolib/ejson.js';
import { displayPath } from '../display-path.js';
import { type CommonOptions, type Io, Reporter } from '../io.js';
import { singlePassphrase } from '../passphrases.js';

export interface KeygenCliOptions extends CommonOptions {
  keys?: string;
  registry?: string;
  release?: string;
  name?: string;
  keychains?: number;
  bits?: number;
  passphraseFile?: string;
  passphraseHint?: string;
  testGuardians?: boolean;
  cryptoconfOut?: string;
  operator?: string;
  requester?: string;
}

const usage = (m: string) => new ShidiError(ExitCode.usage, m, 'usage');

/** What only a guardian keystore (or a registry's name) takes: refused by the kinds that make one bare key. */
const guardianOptions = (opts: KeygenCliOptions): [string, unknown][] => [
  ['--keys', opts.keys],
  ['--registry', opts.registry],
  ['--name', opts.name],
  ['--keychains', opts.keychains],
  ['--bits', opts.bits],
  ['--passphrase-hint', opts.passphraseHint],
  ['--test-guardians', opts.testGuardians],
  ['--cryptoconf-out', opts.cryptoconfOut],
];

/** keygen makes one kind of key per run: an option of another kind is a usage error naming both. */
function refuseOthers(mode: string, why: string, given: readonly (readonly [string, unknown])[]): void {
  for (const [flag, value] of given) if (value !== undefined) throw usage(`${flag} does not apply to ${mode} (${why}) — drop ${flag}, or drop ${mode}`);
}

/** `--release DIR`: a release key for core images (docs/core-image.md); guardian options do not apply. */
async function makeReleaseKey(io: Io, rep: Reporter, opts: KeygenCliOptions, dir: string): Promise<void> {
  refuseOthers('--release', 'a release key is one RSA-3072 key, not a guardian keystore', [
    ...guardianOptions(opts),
    ['--operator', opts.operator],
    ['--requester', opts.requester],
  ]);
  const passphrase = singlePassphrase(io, opts.passphraseFile);
  const k = await createReleaseKey(dir, { passphrase });
  if (!k.passphraseProtected) rep.warn('the release private key is NOT passphrase-protected — give --passphrase-file or SHIDI_PASSPHRASE to protect it');
  rep.json({
    ok: true,
    release_key: { dir: k.dir, private_key: k.privateKeyPath, public_key_pem: k.publicKeyPem, public_key_der: k.publicKeyDer, key_id: k.keyId },
    passphrase_protected: k.passphraseProtected,
  });
  rep.result(`created a release key (RSA-3072) in ${displayPath(k.dir)}`);
  rep.result(`  key id  ${k.keyId}`);
  rep.result(`  private ${displayPath(k.privateKeyPath)}  (keep it offline${k.passphraseProtected ? ', passphrase-protected' : ''})`);
  rep.result(`  public  ${displayPath(k.publicKeyDer)}  (the firmware embeds it)`);
  rep.note(`Next: sign the core with it:  SHIDI_RELEASE_KEY=${displayPath(k.privateKeyPath)} npm run build`);
  rep.note(`      and build the firmware with it:  idf.py -DSHIDI_RELEASE_PUBKEY=${displayPath(k.publicKeyDer)} build  (firmware/README.md)`);
}

function describe(g: GuardianInfo) {
  return { name: g.name, keystore_uid: g.keystoreUid.toString(), keychain_uids: g.keychainUids.map(String), keystore_dir: g.keystoreDir };
}

/** `keygen --registry DIR`: a registry whose CA key is protected like the guardians' keys, or warned about. */
async function makeRegistry(io: Io, rep: Reporter, opts: KeygenCliOptions): Promise<void> {
  refuseOthers('--registry', 'the CA key is ECDSA P-256, docs/registry.md', [
    ['--keys', opts.keys],
    ['--keychains', opts.keychains],
    ['--bits', opts.bits],
    ['--test-guardians', opts.testGuardians],
    ['--cryptoconf-out', opts.cryptoconfOut],
    ['--passphrase-hint', opts.passphraseHint],
    ['--release', opts.release],
    ['--operator', opts.operator],
    ['--requester', opts.requester],
  ]);
  const passphrase = singlePassphrase(io, opts.passphraseFile);
  const r = await createRegistry(opts.registry!, { name: opts.name ?? 'Shidi device registry', passphrase });
  if (!passphrase) rep.warn("the registry's CA key is NOT passphrase-protected — give --passphrase-file or SHIDI_PASSPHRASE to protect it");
  rep.json({
    ok: true,
    registry: r.dir,
    name: r.meta.name,
    ca_certificate: `${r.dir}/ca-cert.pem`,
    ca_subject: r.ca.subject,
    ca_not_after: r.ca.notAfter.toISOString(),
    passphrase_protected: Boolean(passphrase),
  });
  rep.result(`created registry "${r.meta.name}": ${displayPath(r.dir)}`);
  rep.result(`  CA ${r.ca.subject} (ECDSA P-256), valid to ${r.ca.notAfter.toISOString()}`);
  rep.note(`Next: enrol a device:  shidi registry enrol --registry ${displayPath(r.dir)} --device DEVICE_DIR`);
  rep.note(`      or record with it:  shidi sim --registry ${displayPath(r.dir)} --out card/`);
}

/** `--operator FILE`: the key that authorises provisioning changes (docs/provisioning.md). */
function makeOperatorKey(io: Io, rep: Reporter, opts: KeygenCliOptions, file: string): void {
  refuseOthers('--operator', 'an operator key is one ECDSA P-256 key', [...guardianOptions(opts), ['--requester', opts.requester]]);
  const passphrase = singlePassphrase(io, opts.passphraseFile);
  const k = createOperatorKeyFile(file, passphrase);
  if (!passphrase) rep.warn('the operator key is NOT passphrase-protected — give --passphrase-file or SHIDI_PASSPHRASE to protect it');
  const pub = Buffer.from(k.publicRaw).toString('hex');
  rep.json({ ok: true, operator_key: resolve(file), public_key: pub, passphrase_protected: Boolean(passphrase) });
  rep.result(`created an operator key (ECDSA P-256) in ${displayPath(file)}`);
  rep.result(`  public key ${pub}`);
  rep.note(`Next: shidi provision --port PORT --operator-key ${displayPath(file)} …`);
}

/** `--requester FILE`: the key that signs revelation requests (docs/revelation-requests.md). */
function makeRequesterKey(io: Io, rep: Reporter, opts: KeygenCliOptions, file: string): void {
  refuseOthers('--requester', 'a requester key is one ECDSA P-256 key', [...guardianOptions(opts), ['--release', opts.release], ['--operator', opts.operator]]);
  const passphrase = singlePassphrase(io, opts.passphraseFile);
  const k = createRequesterKeyFile(file, passphrase);
  if (!passphrase) rep.warn('the requester key is NOT passphrase-protected — give --passphrase-file or SHIDI_PASSPHRASE to protect it');
  rep.json({ ok: true, requester_key: resolve(file), fingerprint: k.fingerprint, passphrase_protected: Boolean(passphrase) });
  rep.result(`created a requester key (ECDSA P-256) in ${displayPath(file)}`);
  rep.result(`  fingerprint ${k.fingerprint}`);
  rep.note('Next: tell your guardians this fingerprint by a channel they trust (they pin it with shidi reveal answer --expect-requester),');
  rep.note(`      then ask them:  shidi reveal request RECORDINGS… --reason "…" --requester-key ${displayPath(file)} --out REQUEST_DIR`);
}

export async function keygen(io: Io, done: (code: number) => void, opts: KeygenCliOptions): Promise<void> {
  const rep = new Reporter(io, opts);
  if (opts.registry !== undefined) {
    await makeRegistry(io, rep, opts);
    done(0);
    return;
  }
  if (opts.release !== undefined) {
    await makeReleaseKey(io, rep, opts, opts.release);
    done(0);
    return;
  }
  if (opts.operator !== undefined) {
    makeOperatorKey(io, rep, opts, opts.operator);
    done(0);
    return;
  }
  if (opts.requester !== undefined) {
    makeRequesterKey(io, rep, opts, opts.requester);
    done(0);
    return;
  }
  if (opts.keys === undefined)
    throw usage(
      'nothing to make — give --keys POOL (guardian keys), --registry DIR (a device registry), --release DIR (a core release key), --operator FILE or --requester FILE',
    );
  const keys = opts.keys;
  if (opts.testGuardians) {
    refuseOthers('--test-guardians', 'test keys have fixed names, one keychain each, no passphrase', [
      ['--name', opts.name],
      ['--keychains', opts.keychains],
      ['--passphrase-file', opts.passphraseFile],
      ['--passphrase-hint', opts.passphraseHint],
    ]);
    io.stderr.write(
      'shidi: WARNING: INSECURE TEST KEYS — these private keys have no passphrase and sit next to their public keys.\n' +
        '       Use them only for tests and demos; never for real recordings.\n',
    );
    const t = await makeTestGuardians(keys, { cryptoconfOut: opts.cryptoconfOut, bits: opts.bits });
    const all = [t.wearer, ...t.guardians];
    rep.json({
      ok: true,
      test_keys: true,
      keystores: all.map(describe),
      cryptoconf: t.cryptoconfPath,
      wacryptolib_cryptoconf: t.wacryptolibCryptoconfPath,
      passphrase_protected: false,
    });
    for (const g of all) rep.result(`${g.name}: keystore ${g.keystoreUid}, keychain ${g.keychainUids.join(', ')}  (${displayPath(g.keystoreDir)})`);
    rep.result(`default cryptoconf (wearer AND 2 of 3 guardians, segmented payload cipher): ${displayPath(t.cryptoconfPath)}`);
    rep.result(`the same with wacryptolib's AES_EAX payload cipher (opens in wacryptolib): ${displayPath(t.wacryptolibCryptoconfPath)}`);
    rep.note(`Next: record with it:  shidi sim --keys ${displayPath(keys)} --out card/`);
    rep.note(
      `      or encrypt a file in wacryptolib:  mkdir -p recordings && flightbox -k ${displayPath(keys)} -c recordings encrypt FILE --cryptoconf ${displayPath(t.wacryptolibCryptoconfPath)}`,
    );
    rep.note(`      then reveal it:  shidi decrypt recordings/ --keys ${displayPath(keys)} --out revealed/`);
    done(0);
    return;
  }
  if (opts.cryptoconfOut !== undefined) throw usage('--cryptoconf-out goes with --test-guardians — drop it, or add --test-guardians');
  if (opts.name === undefined) throw usage('no guardian name — give --name "Guardian name" (or --test-guardians for the throw-away test set)');
  const passphrase = singlePassphrase(io, opts.passphraseFile);
  const g = await createGuardianKeystore(keys, {
    name: opts.name,
    keychains: opts.keychains,
    bits: opts.bits,
    passphrase,
    passphraseHint: opts.passphraseHint ?? null,
  });
  if (!passphrase) rep.warn('the private keys are NOT passphrase-protected — give --passphrase-file or SHIDI_PASSPHRASE to protect them');
  const bits = opts.bits ?? 2048;
  rep.json({ ok: true, test_keys: false, keystores: [describe(g)], passphrase_protected: Boolean(passphrase), bits });
  rep.result(`created ${g.name}'s keystore: ${displayPath(g.keystoreDir)}`);
  rep.result(`  keystore_uid  ${g.keystoreUid}`);
  for (const k of g.keychainUids) rep.result(`  keychain_uid  ${k}  (RSA_OAEP, ${bits} bits${passphrase ? ', passphrase-protected' : ''})`);
  const layer = dumpEJson({ key_cipher_algo: 'RSA_OAEP', key_cipher_trustee: authenticatorTrustee(g), keychain_uid: g.keychainUids[0]! } as unknown as EJson);
  rep.note(`Next: in a cryptoconf, wrap a key to ${g.name} with the key layer ${layer}`);
  rep.note(`      (no name in it: a trustee is copied into every header in clear; shidi finds ${g.name} by the keystore uid)`);
  rep.note(`      hand the guardian a copy of the folder (e.g. on a USB key as authenticator.keystore/) and keep only the public keys on the host.`);
  done(0);
}
