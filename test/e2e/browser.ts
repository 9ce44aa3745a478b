/**
 * The headless browser of the end-to-end tests: Debian's `chromium` package driven by
 * playwright-core through `executablePath`. Never a browser downloaded by Playwright
 * (`npx playwright install` fetches binaries from the internet, which these machines may not
 * reach, and which no distribution vouches for).
 *
 * `ensureChromium` installs the package when it is missing and the tests run as root (a
 * fresh CI container); otherwise it fails with the command that fixes it.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

/** Where Debian's `chromium` package puts its launcher. */
export const chromiumPath = '/usr/bin/chromium';

/**
 * Flags for a closed network and a container: no sandbox (root in a container has no user
 * namespaces), no GPU, and none of the background traffic (QUIC probing, component updates,
 * sync, first-run pings) that would otherwise try to reach the internet and log errors.
 */
export const chromiumArgs: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** apt-get may take minutes on a cold mirror; bounded so a stuck install fails the setup. */
const aptTimeoutMs = 10 * 60_000;

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function apt(args: string[]): void {
  execFileSync('apt-get', args, {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: aptTimeoutMs,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/**
 * Returns the path of Debian's chromium, installing the package first when it is missing
 * and this process is root. A failed install is retried once after `apt-get update` (a
 * fresh container's package lists are often empty or stale).
 */
export function ensureChromium(): string {
  if (isExecutable(chromiumPath)) return chromiumPath;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `the browser tests need Debian's chromium at ${chromiumPath}, which is missing; install it with \`sudo apt-get install -y chromium\` (never \`npx playwright install\`), or run the tests as root to have them install it`,
    );
  }
  try {
    apt(['install', '-y', '--no-install-recommends', 'chromium']);
  } catch {
    try {
      apt(['update']);
      apt(['install', '-y', '--no-install-recommends', 'chromium']);
    } catch (err) {
      const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim();
      throw new Error(`could not install Debian's chromium with apt-get: ${stderr || String(err)}`, { cause: err });
    }
  }
  if (!isExecutable(chromiumPath)) throw new Error(`apt-get installed chromium but ${chromiumPath} is still missing`);
  return chromiumPath;
}

/** Launches headless Debian chromium; the caller closes it. */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: ensureChromium(), args: [...chromiumArgs] });
}
