// Launches Debian's Chromium for the browser tests, the one way the project does it: driven by
// playwright-core (passed in, since each test folder has its own node_modules), headless, with a
// fresh profile (Playwright passes it as --user-data-dir) and flags that keep Chromium from
// talking to anything but the test's own 127.0.0.1 server. `close()` also deletes the profile.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** A persistent context on a fresh profile; every page of it shares that profile's caches. */
export async function launchChromium(chromium) {
  const profile = await mkdtemp(join(tmpdir(), "xlmr-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: CHROMIUM_ARGS,
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
