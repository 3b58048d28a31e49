/** The project folder (found once, by the simulator's project-root module) and the package's version. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../../../host-sim/src/project-root.js';

export { PROJECT_ROOT };
export const PROJECT_VERSION = (JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
