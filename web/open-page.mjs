// Opens one page in the system's headless Chromium (playwright-core drives it; no browser is downloaded), waits
// until the page sets body[data-state] to "done" or "error", saves a screenshot, and prints one JSON line:
// {state, result (the text of #result), status (the text of #status), console (the page's messages)}.
//
//   node web/open-page.mjs URL [SCREENSHOT.png] [TIMEOUT_MS]
//
// The browser: $CHROMIUM, else chromium or chromium-browser on PATH (Debian: apt-get install chromium).
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

const [url, screenshot, timeout = "120000"] = process.argv.slice(2);
if (!url) {
  console.error("usage: node web/open-page.mjs URL [SCREENSHOT.png] [TIMEOUT_MS]");
  process.exit(2);
}

function findChromium() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  for (const name of ["chromium", "chromium-browser"]) {
    try {
      return execFileSync("which", [name], { encoding: "utf8" }).trim();
    } catch {}
  }
  console.error("no Chromium found: apt-get install chromium, or set CHROMIUM to the browser's path");
  process.exit(3);
}

const browser = await chromium.launch({
  executablePath: findChromium(),
  headless: true,
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const messages = [];
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  page.on("console", (m) => messages.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => messages.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector("body[data-state=done], body[data-state=error]", { timeout: Number(timeout) });
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  const read = (sel) => page.$eval(sel, (e) => e.textContent).catch(() => null);
  const state = await page.$eval("body", (b) => b.dataset.state);
  console.log(JSON.stringify({ state, result: await read("#result"), status: await read("#status"), console: messages }));
} catch (e) {
  console.log(JSON.stringify({ state: "timeout", error: String(e), console: messages }));
} finally {
  await browser.close();
}
