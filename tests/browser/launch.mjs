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

// Fails unless every control (input, select, button, focusable row) has an accessible name: a
// <label for>, aria-label, aria-labelledby or its own text.
export async function checkPage(page) {
  const unnamed = await page.evaluate(() => [...document.querySelectorAll("input, select, button, [tabindex], a[href]")]
    .filter((e) => e.getClientRects().length)
    .filter((e) => !(e.getAttribute("aria-label") || e.getAttribute("aria-labelledby") ||
      (e.id && document.querySelector(`label[for="${CSS.escape(e.id)}"]`)) ||
      (e.tagName !== "INPUT" && e.textContent.trim())))
    .map((e) => e.outerHTML.slice(0, 80)));
  if (unnamed.length) throw new Error("controls without a label: " + unnamed.join("; "));
}

// Every visible text on the page whose contrast against its background is below WCAG AA
// (4.5:1, or 3:1 for large text), as "text: ratio" lines. Backgrounds are found by walking up
// to the first opaque ancestor colour; SVG text is checked with its fill.
export async function contrastFailures(page) {
  return page.evaluate(() => {
    const parse = (c) => { const m = c.match(/[\d.]+/g) || []; return m.map(Number).concat([1]).slice(0, 4); };
    const lum = ([r, g, b]) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
    const over = (top, under) => { const a = top[3]; return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]); };
    const background = (e) => {
      const layers = [];
      for (let n = e; n && n.nodeType === 1; n = n.parentElement) {
        const c = parse(getComputedStyle(n).backgroundColor);
        if (c[3] > 0) { layers.push(c); if (c[3] === 1) break; }
      }
      let bg = [255, 255, 255, 1];
      for (const c of layers.reverse()) bg = over(c, bg);
      return bg;
    };
    const bad = [];
    for (const e of document.querySelectorAll("body *")) {
      const text = [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
      if (!text || !e.getClientRects().length || e.closest("[hidden], option, script, style")) continue;
      const s = getComputedStyle(e);
      if (s.visibility === "hidden" || s.display === "none") continue;
      const isSvg = e instanceof SVGElement;
      const fg = parse(isSvg ? s.fill : s.color);
      const bg = background(isSvg ? e.closest("svg").parentElement : e);
      const col = over(fg, bg);
      const [a, b] = [lum(col), lum(bg)].sort((x, y) => y - x);
      const ratio = (a + 0.05) / (b + 0.05);
      const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
      const large = size >= 24 || (bold && size >= 18.66);
      if (ratio < (large ? 3 : 4.5)) bad.push(`${text.slice(0, 30)}: ${ratio.toFixed(2)}`);
    }
    return bad;
  });
}

// Fails unless every text passes WCAG AA in both the light and the dark scheme.
export async function checkContrast(page) {
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    const bad = await contrastFailures(page);
    if (bad.length) throw new Error(`${scheme} scheme: contrast below AA: ` + bad.slice(0, 5).join("; "));
  }
  await page.emulateMedia({ colorScheme: "light" });
}

// Saves `<prefix>-desktop.png` (1200 px wide) and `<prefix>-phone.png` (390 px), failing if
// the phone layout scrolls sideways; leaves the page at the desktop size.
export async function desktopAndPhone(page, prefix) {
  await page.setViewportSize({ width: 1200, height: 860 });
  await page.waitForTimeout(200);
  await page.screenshot({ path: prefix + "-desktop.png", fullPage: true });
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(200);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) throw new Error(`the phone layout scrolls sideways by ${overflow} px`);
  await page.screenshot({ path: prefix + "-phone.png", fullPage: true });
  await page.setViewportSize({ width: 1200, height: 860 });
}
