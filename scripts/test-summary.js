#!/usr/bin/env node
// Prints vitest's totals as the plain closing line CI reads ("N passed, N failed, N skipped").
import { readFileSync } from 'node:fs';

const r = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const skipped = r.numPendingTests + r.numTodoTests;
console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ''));
process.exitCode = r.success ? 0 : 1;
