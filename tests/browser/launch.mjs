// Shared by the browser tests: headless Debian Chromium through playwright-core (no browser
// download), and a page that records Content-Security-Policy violations, page errors and
// dialogs from its first script on.
import { chromium } from "playwright-core";

export async function open(url) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
  const seen = { errors: [], dialogs: [] };
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  page.on("dialog", (d) => { seen.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  // Init scripts run through the DevTools protocol, outside the page's policy.
  await page.addInitScript(() => {
    window.__violations = [];
    document.addEventListener("securitypolicyviolation",
      (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI || "inline"}`));
  });
  await page.goto(url);
  return { browser, page, seen, violations: () => page.evaluate(() => window.__violations) };
}

// Waits until every model's card shows a probability; returns the card ids.
export async function probabilitiesShown(page) {
  const ids = ["p-logistic", "p-forest", "p-boost"];
  await page.waitForFunction((ids) => ids.every((id) => document.getElementById(id)?.textContent.includes("%")), ids);
  return ids;
}
