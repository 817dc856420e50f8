// The HTML reports (`reproduce --html`, `eval --html`) as a person opens them: headless Chromium
// (tests/chromium.mjs) loads each page from a 127.0.0.1 server, refusing and recording any other
// request; the page must show its tables, bars and confusion matrices, and a screenshot of it is
// written beside it (FILE.png), to look at.
//
//   node tests/reports/screenshot.mjs reproduce.html eval.html     (run by tests/run.sh)
import { basename, dirname, resolve } from "node:path";
import { launchChromium, serveFiles } from "../chromium.mjs";

const { chromium } = await import(
  new URL("../vite-consumer/node_modules/playwright-core/index.mjs", import.meta.url)
);

const files = process.argv.slice(2).map((f) => resolve(f));
if (files.length === 0) throw new Error("usage: node tests/reports/screenshot.mjs FILE.html ...");
const browser = await launchChromium(chromium);
const elsewhere = [];
try {
  for (const file of files) {
    const { server, origin } = await serveFiles((url) => resolve(dirname(file), `.${url.split("?")[0]}`));
    try {
      const page = await browser.context.newPage();
      await page.route("**/*", (route) => {
        const url = route.request().url();
        if (url.startsWith(`${origin}/`)) return route.continue();
        elsewhere.push(url);
        return route.abort();
      });
      await page.goto(`${origin}/${basename(file)}`);
      const count = (selector) => page.locator(selector).count();
      const tables = await count("table");
      const bars = await count(".bar");
      const confusions = await count("table.confusion");
      if (tables < 2 || bars < 3 || confusions < 1) {
        throw new Error(`${file}: ${tables} tables, ${bars} bars, ${confusions} confusion matrices`);
      }
      if (basename(file).startsWith("reproduce")) {
        const rows = await count("table.comparison tbody tr");
        if (rows < 3) throw new Error(`${file}: ${rows} rows in the comparison with the card`);
      }
      await page.screenshot({ path: `${file}.png`, fullPage: true });
      console.log(`report: ${basename(file)}: ${tables} tables, ${bars} bars, ${confusions} confusion matrices; screenshot ${file}.png`);
      await page.close();
    } finally {
      server.close();
    }
  }
} finally {
  await browser.close();
}
if (elsewhere.length) throw new Error(`a report asked for something other than its page: ${elsewhere.join(", ")}`);
