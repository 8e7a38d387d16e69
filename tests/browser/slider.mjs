// Browser test of the dashboard: headless Chromium opens the page, moves the tempo slider
// with the keyboard (real input events) and waits for every model's probability to change.
// Usage: node slider.mjs http://127.0.0.1:8599/ screenshot.png
import { chromium } from "playwright-core";

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(url);
  const ids = ["p-logistic", "p-forest", "p-boost"];
  await page.waitForFunction((ids) => ids.every((id) => document.getElementById(id)?.textContent.includes("%")), ids);
  const read = () => page.evaluate((ids) => ids.map((id) => document.getElementById(id).textContent), ids);
  const before = await read();
  await page.focus("#r-tempo");
  for (let i = 0; i < 60; i++) await page.keyboard.press("ArrowLeft");
  await page.waitForFunction(
    ([ids, before]) => ids.every((id, k) => document.getElementById(id).textContent !== before[k]),
    [ids, before], { timeout: 10000 });
  const after = await read();
  await page.screenshot({ path: shot, fullPage: true });
  if (errors.length) throw new Error("page errors: " + errors.join("; "));
  console.log(`slider moved: ${before.join(" / ")}  ->  ${after.join(" / ")}`);
} finally {
  await browser.close();
}
