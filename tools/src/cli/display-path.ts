import { isAbsolute, relative, sep } from 'node:path';

/**
 * A path as the user should type it back: relative to the working folder when it lies inside it ('.' for
 * the folder itself), absolute otherwise, where a chain of '../' would only hide where it is.
 */
export function displayPath(p: string, cwd = process.cwd()): string {
  const r = relative(cwd, p);
  if (r === '') return '.';
  return r === '..' || r.startsWith(`..${sep}`) || isAbsolute(r) ? p : r;
}
