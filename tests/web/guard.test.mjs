// The pinned playwright-core speaks the DevTools protocol of one Chromium
// major; Debian's Chromium moves on with security updates. When the two
// drift apart this test says so, plainly, before the other tests fail in
// stranger ways.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { CHROMIUM } from './harness.mjs';

const require = createRequire(import.meta.url);

test('the installed Chromium is the major the pinned playwright-core was made for', () => {
  const pkgPath = require.resolve('playwright-core/package.json');
  const pw = JSON.parse(readFileSync(pkgPath, 'utf8'));
  const browsers = JSON.parse(readFileSync(pkgPath.replace(/package\.json$/, 'browsers.json'), 'utf8'));
  const made = browsers.browsers.find((b) => b.name === 'chromium');
  assert.ok(made, `playwright-core ${pw.version}'s browsers.json names no chromium`);
  const madeMajor = Number(made.browserVersion.split('.')[0]);

  let out;
  try {
    out = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    assert.fail(`cannot run ${CHROMIUM} --version (${e.message}): install Debian's chromium package (scripts/deps.sh)`);
  }
  const m = /(\d+)\.\d+\.\d+\.\d+/.exec(out);
  assert.ok(m, `cannot read a version from "${out.trim()}"`);
  const installedMajor = Number(m[1]);

  assert.equal(
    installedMajor,
    madeMajor,
    `Debian's Chromium is ${installedMajor} (${m[0]}) but playwright-core ${pw.version} was made for ` +
      `${madeMajor} (${made.browserVersion}): update tests/web/package.json to the playwright-core ` +
      `release whose browsers.json names chromium ${installedMajor}, then run ` +
      '`npm install --package-lock-only` in tests/web (README.md there says how)',
  );
});
