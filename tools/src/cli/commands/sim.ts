/** `shidi sim`: its options and help, loaded with the CLI; what it does is in sim-action.ts, loaded only when it runs. */
import { Command } from 'commander';
import { MAX_DEVICE_SEGMENT_SIZE, MAX_KEEP_MIN, SEG_MIN_SIZE } from '../../lib/abi.js';
import { FULL_POLICIES } from '../../lib/device-conf/full-policies.js';
import type { Io } from '../io.js';
import { choiceOption, commonOptions, numberOption } from '../options.js';
import type { SimOptions } from './sim-action.js';

export function simCommand(io: Io, done: (code: number) => void): Command {
  return commonOptions(
    new Command('sim')
      .description('run the simulated Shidi: a capture through the encryptor core, written as cryptainers')
      .option('-c, --capture <file>', 'capture to replay (default: the bundled sample)')
      .option('--cryptoconf <file>', 'cryptoconf (wacryptolib JSON; default: KEYS/default-cryptoconf.json)')
      .option('-k, --keys <dir>', "key store pool with the guardians' public keys (default: make throw-away TEST guardians)")
      .option('-o, --out <dir>', 'the simulated SD card: a new or empty folder', 'shidi-sim')
      .option('--slice-seconds <n>', 'length of a time slice (one cryptainer each)', numberOption({ min: 1, max: 86400, unit: 'seconds' }), 60)
      .option('--pseudonym <name>', 'device pseudonym in file names', 'shidi')
      .option('--seed <text>', 'deterministic run: the TRNG becomes HMAC-DRBG over this text (INSECURE, for tests)')
      .option(
        '--segment-bytes <n>',
        `plaintext bytes per segment of the segmented cipher (${SEG_MIN_SIZE}..${MAX_DEVICE_SEGMENT_SIZE}, multiple of 16)`,
        numberOption({ min: SEG_MIN_SIZE, max: MAX_DEVICE_SEGMENT_SIZE, whole: true, unit: 'bytes' }),
      )
      .option(
        '--retention-minutes <n>',
        'delete slices older than this at each slice start (0: keep all)',
        numberOption({ min: 0, max: 5256000, unit: 'minutes' }),
      )
      .option(
        '--retention-keep-min <n>',
        `never delete the newest N slices, whatever the clock says (0..${MAX_KEEP_MIN})`,
        numberOption({ min: 0, max: MAX_KEEP_MIN, whole: true }),
      )
      .option(
        '--slice-max-mib <n>',
        "end a slice once it takes N MiB on the card, the next one in the same period (1 to 3072; default 3072, below FAT32's 4 GiB file limit)",
        numberOption({ min: 1, max: 3072, unit: 'MiB' }),
      )
      .option(
        '--retention-mib <n>',
        "size quota: delete this device's oldest slices beyond N MiB (at least 1)",
        numberOption({ min: 1, max: 2 ** 33, unit: 'MiB' }),
      )
      .option('--device <dir>', 'the device folder: persistent state such as the slice sequence number (default: OUT-device beside --out)')
      .option('--resume', 'record onto a card (--out) that already holds recordings, as after a reboot: nothing on it is overwritten')
      .option('--card-full <policy>', `when the card is full: ${FULL_POLICIES.join(' or ')} (default stop)`, choiceOption(FULL_POLICIES))
      .option('--card-mib <n>', 'size of the simulated SD card in MiB (default 32 GiB)', numberOption({ min: 0.01, max: 1 << 20, unit: 'MiB' }))
      .option(
        '--power-cut-at <seconds>',
        'cut the power this many seconds into the capture (unsynced bytes are lost)',
        numberOption({ min: 0, max: 1e9, unit: 'seconds' }),
      )
      .option('--power-cut-random <seed>', 'cut the power at an instant drawn from this seed over the capture')
      .option(
        '-r, --registry <dir>',
        'enrol the simulated device with this registry before recording (default with test guardians: a throw-away TEST registry)',
      )
      .option('--registry-passphrase-file <file>', "the registry CA key's passphrase on its first line (else SHIDI_PASSPHRASE)")
      .option(
        '--body <body>',
        "what runs the core: node (V8 and the simulator's HAL) or wamr (the firmware's C natives under WAMR, built by npm run setup)",
        choiceOption(['node', 'wamr'] as const),
        'node',
      )
      .option('--core <file>', 'the core to run: a signed core image (default build/encryptor.core), checked before it runs')
      .option(
        '--release-key <file>',
        "a release public key (release-public.der or .pem) the core may be signed by; repeat for several (default SHIDI_RELEASE_PUBKEY, else the build's throw-away test key)",
        (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
      )
      .option('--unsigned-core', 'let --core name a bare .wasm module and run it UNSIGNED (development only: no release key vouches for it)')
      .option('--trace', 'print every HAL call on stderr ("trace: name(args) -> result"); key, secret and random buffers by length only')
      .option('--provisioned', 'record with the cryptoconf and settings shidi provision installed on the device (--device); needs --keys to reveal')
      .option('--serial', 'serve the provisioning protocol on a pseudo-terminal (made with socat) instead of recording; prints its path; stops on Ctrl-C')
      .option('--serial-timeout <seconds>', 'with --serial: stop serving after this long', numberOption({ min: 0.1, max: 1e7, unit: 'seconds' }))
      .option('--trng-fault <kind>', 'simulate a broken TRNG (stuck or biased): the core must refuse to record', choiceOption(['stuck', 'biased'] as const))
      .addHelpText(
        'beforeAll',
        `Examples:
  shidi sim                                          # bundled sample, throw-away test guardians, ./shidi-sim
  shidi sim --capture walk.shcap --keys pool/ --out card/ --slice-seconds 300
  shidi sim --out cut/ --power-cut-at 3.2                # then: shidi decrypt cut/ … --allow-unfinished
  shidi sim --out cut/ --resume                          # reboot onto the same card and device: records on
  shidi sim --keys pool/ --registry reg/ --out card/      # enrol the device with reg/ first (a certificate with a lease)
  shidi sim --serial --device dev/                       # a blank device on a pty, for shidi provision --port
`,
      ),
  ).action(async (opts: SimOptions) => (await import('./sim-action.js')).sim(io, done, opts));
}
