/**
 * A file system refusal told to a person: Node reports `ENOENT`, `EACCES`, …, which mean nothing to most
 * users, so every place that catches one says the cause in words and what to do about it (CLI.md, Errors).
 */
import { ExitCode, ShidiError } from './errors.js';

interface Explained {
  cause: string;
  fix: string;
}

const EXPLAINED: Record<string, Explained> = {
  ENOENT: { cause: 'no such file or folder', fix: 'check the path' },
  EACCES: { cause: 'permission denied', fix: 'check its permissions, or choose a place you may use' },
  EPERM: { cause: 'the operation is not permitted there', fix: 'check its permissions, or choose a place you may use' },
  EEXIST: { cause: 'something already exists at that path', fix: 'remove it or choose another path' },
  EISDIR: { cause: 'it is a folder, not a file', fix: 'give a file path' },
  ENOTDIR: { cause: 'a part of the path is a file, not a folder', fix: 'give a folder path' },
  ENOTEMPTY: { cause: 'the folder is not empty', fix: 'empty it or choose another folder' },
  ENOSPC: { cause: 'no space left on the device', fix: 'free some space or choose another place' },
  EDQUOT: { cause: 'the disk quota is used up', fix: 'free some space or choose another place' },
  EROFS: { cause: 'the file system is read-only', fix: 'choose a writable place' },
  EMFILE: { cause: 'too many files are open', fix: 'close other programs or raise the open-file limit (ulimit -n)' },
  ENFILE: { cause: 'too many files are open on this system', fix: 'close other programs and try again' },
  ENAMETOOLONG: { cause: 'the path is too long', fix: 'use a shorter path' },
  ELOOP: { cause: 'the path loops through symbolic links', fix: 'check the links in the path' },
  EBUSY: { cause: 'the file or folder is busy', fix: 'close the program using it and try again' },
  EIO: { cause: 'the device reported an input/output error', fix: 'check the disk or card, then try again' },
  EXDEV: { cause: 'it would move a file across file systems', fix: 'keep the output on the same disk as its folder' },
  ETXTBSY: { cause: 'the file is in use by a running program', fix: 'close that program and try again' },
};

const GENERIC: Explained = { cause: 'the file system refused the operation', fix: 'check the path, its permissions and the free space' };

/** An error that came from the file system (it carries an errno name such as ENOENT). */
export function isFsError(e: unknown): e is NodeJS.ErrnoException & { code: string } {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === 'string' && /^E[A-Z0-9]+$/.test((e as NodeJS.ErrnoException).code!);
}

/** Cause and fix of a file system error, in words. */
export function explainFsError(e: unknown): Explained {
  return (isFsError(e) && EXPLAINED[e.code]) || GENERIC;
}

/**
 * `doing` is what was attempted, with its path ("cannot create out/"); the result reads
 * "cannot create out/: permission denied — check its permissions, …". `fix` replaces the generic advice
 * when the caller knows better (e.g. "give a folder of .jpg files").
 */
export function fsFailure(e: unknown, doing: string, opts: { exitCode?: ExitCode; kind?: string; fix?: string } = {}): ShidiError {
  const { cause, fix } = explainFsError(e);
  const code = isFsError(e) ? e.code : undefined;
  return new ShidiError(
    opts.exitCode ?? ExitCode.failed,
    `${doing}: ${cause} — ${opts.fix ?? fix}`,
    opts.kind ?? 'output',
    code ? { fs_error: code } : undefined,
  );
}

/** An input the file system refused: exit 3. */
export const fsReadFailure = (e: unknown, doing: string, fix?: string, kind = 'missing-file') =>
  fsFailure(e, doing, { exitCode: ExitCode.badInput, kind, ...(fix ? { fix } : {}) });

const VERB: Record<string, string> = {
  open: 'cannot open',
  read: 'cannot read',
  write: 'cannot write',
  mkdir: 'cannot create the folder',
  rmdir: 'cannot remove the folder',
  unlink: 'cannot remove',
  rename: 'cannot rename',
  stat: 'cannot read',
  lstat: 'cannot read',
  scandir: 'cannot list the folder',
  opendir: 'cannot list the folder',
  copyfile: 'cannot copy',
  link: 'cannot create',
  symlink: 'cannot create',
  chmod: 'cannot change the permissions of',
};

/** The last resort for a file system error no caller caught: still one line, cause and fix. */
export function uncaughtFsFailure(e: NodeJS.ErrnoException & { code: string; dest?: string }): ShidiError {
  const verb = (e.syscall && VERB[e.syscall]) ?? 'cannot use';
  const where = e.path ? ` ${e.path}${e.dest ? ` (to ${e.dest})` : ''}` : '';
  return fsFailure(e, `${verb}${where}`);
}
