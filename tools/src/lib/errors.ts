/**
 * One error type for the whole host side. Each carries the exit code of CLI.md so that every command maps
 * failures the same way, and a one-line message written "cause — fix".
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  badInput: 3,
  notEnoughKeys: 4,
  device: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class ShidiError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** Machine-readable cause for --json output; stable names documented in docs/cli-json.md. */
    readonly kind: string = 'error',
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ShidiError';
  }
}

export const badInput = (message: string, kind = 'malformed', details?: unknown) => new ShidiError(ExitCode.badInput, message, kind, details);
export const failed = (message: string, kind = 'failed', details?: unknown) => new ShidiError(ExitCode.failed, message, kind, details);
export const notEnoughKeys = (message: string, details?: unknown) => new ShidiError(ExitCode.notEnoughKeys, message, 'not-enough-keys', details);

/**
 * Advice for a refusal whose message names only its cause (deep validators describe what is wrong with the
 * data and cannot know the command): every line the user reads still ends with what to do (CLI.md).
 */
const DEFAULT_FIX: Record<number, string> = {
  [ExitCode.failed]: 'the data was altered or damaged; use an intact copy',
  [ExitCode.usage]: 'run shidi --help for usage',
  [ExitCode.badInput]: 'check that it is the right file and that it is complete',
  [ExitCode.notEnoughKeys]: "bring the missing guardians' keys (--keys)",
  [ExitCode.device]: 'check the device connection and try again',
};

/** The message as the user reads it: "cause — fix", the default fix added when the cause came alone. */
export function withFix(e: ShidiError): string {
  return e.message.includes(' — ') ? e.message : `${e.message} — ${DEFAULT_FIX[e.exitCode] ?? 'see docs/cli-json.md'}`;
}
