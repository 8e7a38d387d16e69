// Browser test of the dashboard: headless Chromium opens the page, moves the tempo slider
// with the keyboard (real input events) and waits for every model's probability to change,
// with the page's Content-Security-Policy in force (no violation allowed).
// Usage: node slider.mjs http://127.0.0.1:8599/ screenshot.png
import { open, probabilitiesShown } from "./launch.mjs";

const [url, shot] = process.argv.slice(2);
const { browser, page, seen, violations } = await open(url);
try {
  const ids = await probabilitiesShown(page);
  const read = () => page.evaluate((ids) => ids.map((id) => document.getElementById(id).textContent), ids);
  const before = await read();
  await page.focus("#r-tempo");
  for (let i = 0; i < 60; i++) await page.keyboard.press("ArrowLeft");
  await page.waitForFunction(
    ([ids, before]) => ids.every((id, k) => document.getElementById(id).textContent !== before[k]),
    [ids, before], { timeout: 10000 });
  const after = await read();
  await page.screenshot({ path: shot, fullPage: true });
  if (seen.errors.length) throw new Error("page errors: " + seen.errors.join("; "));
  const v = await violations();
  if (v.length) throw new Error("the page broke its own Content-Security-Policy: " + v.join("; "));
  console.log(`slider moved: ${before.join(" / ")}  ->  ${after.join(" / ")}`);
} finally {
  await browser.close();
}
