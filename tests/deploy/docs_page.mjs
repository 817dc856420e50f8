// The server's /docs page as a person opens it, offline: headless Chromium (tests/chromium.mjs)
// loads BASE/docs/, every request to anything but BASE is recorded and refused, and the page must
// list every route of /openapi.json and answer a /predict through "Try it out".
//
//   node tests/deploy/docs_page.mjs http://127.0.0.1:PORT     (run by tests/deploy/api_test.py)
import { launchChromium } from "../chromium.mjs";

// playwright-core from one of the test folders' node_modules (tests/run.sh installs them).
const { chromium } = await import(
  new URL("../vite-consumer/node_modules/playwright-core/index.mjs", import.meta.url)
);

const base = process.argv[2];
if (!base) throw new Error("usage: node tests/deploy/docs_page.mjs BASE_URL");
const document = await (await fetch(`${base}/openapi.json`)).json();
const operations = Object.entries(document.paths).flatMap(([path, item]) =>
  Object.keys(item).map((method) => [method, path]),
);

const browser = await launchChromium(chromium);
const elsewhere = [];
try {
  const page = await browser.context.newPage();
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(`${base}/`)) return route.continue();
    elsewhere.push(url);
    return route.abort();
  });
  await page.goto(`${base}/docs/`);
  await page.waitForSelector(".opblock", { timeout: 60_000 });
  for (const [method, path] of operations) {
    const block = page.locator(`.opblock-${method}`, {
      has: page.locator(`.opblock-summary-path[data-path="${path}"]`),
    });
    if ((await block.count()) !== 1) throw new Error(`/docs does not show ${method.toUpperCase()} ${path}`);
  }
  // Try it out: POST /predict with the document's example body.
  const predict = page.locator(".opblock-post", {
    has: page.locator('.opblock-summary-path[data-path="/predict"]'),
  });
  await predict.locator(".opblock-summary").click();
  // The page opens in "Try it out" mode (the server configures it so); else enter it.
  const tryOut = predict.locator("button.try-out__btn");
  if ((await tryOut.innerText()).trim() === "Try it out") await tryOut.click();
  await predict.locator("textarea.body-param__text").fill('{"inputs": "I love this!"}');
  await predict.locator("button.execute").click();
  const status = predict.locator(".live-responses-table .response .response-col_status");
  await status.first().waitFor({ timeout: 60_000 });
  const code = (await status.first().innerText()).trim();
  if (code !== "200") throw new Error(`Try it out on /predict answered ${code}`);
  const body = await predict.locator(".live-responses-table .microlight").first().innerText();
  const labels = JSON.parse(body).map((entry) => entry.label);
  if (labels.length === 0) throw new Error(`Try it out on /predict: no labels in ${body}`);
  console.log(
    `docs: /docs lists all ${operations.length} operations offline; Try it out on /predict answered 200 (${labels.join(", ")})`,
  );
} finally {
  await browser.close();
}
if (elsewhere.length) {
  throw new Error(`/docs asked for something other than the server: ${elsewhere.join(", ")}`);
}
