import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** Debian's Chromium, driven headless by playwright-core (never `npx playwright install`). */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const haveChromium = existsSync(chromiumPath);
if (!haveChromium) console.warn(`browser e2e skipped: no chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM_PATH)`);

/** Where the browser specs put their screenshots. */
export const shots = join(resolve(import.meta.dirname, '..'), 'test-output', 'browser');

const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic', '--no-first-run'];

export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath, args: [...flags, ...extraArgs] });
}
