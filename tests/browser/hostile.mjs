// Browser test of the dashboard serving hostile data (tests/fixtures/evil.csv): a feature
// named `<img src=x onerror=alert(1)>` and track names that are markup. The page must show
// them as text and create no element from them; no dialog may open. Then, as a second line of
// defence, markup injected on purpose must not run: the Content-Security-Policy blocks inline
// handlers.
// Usage: node hostile.mjs http://127.0.0.1:8598/ screenshot.png
import { open, probabilitiesShown } from "./launch.mjs";

const payload = "<img src=x onerror=alert(1)>";
const [url, shot] = process.argv.slice(2);
const { browser, page, seen, violations } = await open(url);
const fail = (why) => { throw new Error(why); };
try {
  await probabilitiesShown(page);
  // Every sample track is markup in the fixture: show one in the status line, as a user would
  // (read at once: the prediction it triggers overwrites the line 25 ms later).
  const status = await page.evaluate(() => {
    [...document.querySelectorAll("#presets button")].find((b) => b.textContent === "random track").click();
    return document.getElementById("loaded").textContent;
  });
  await page.waitForTimeout(300);
  const dom = await page.evaluate((payload) => ({
    imgs: document.querySelectorAll("img").length,
    scripts: document.querySelectorAll("script").length,
    bold: document.querySelectorAll("b").length,
    withHandlers: [...document.querySelectorAll("*")].filter((e) =>
      [...e.attributes].some((a) => a.name.startsWith("on"))).length,
    labels: [...document.querySelectorAll("#features label")].map((l) => l.firstChild.textContent),
    importance: [...document.querySelectorAll("#importance td:first-child")].map((td) => td.textContent),
    slider: document.getElementById("r-" + payload)?.getAttribute("aria-label"),
  }), payload);
  dom.status = status;
  console.log(JSON.stringify(dom));
  if (dom.imgs || dom.bold || dom.withHandlers) fail("an element was created from data: " + JSON.stringify(dom));
  if (dom.scripts !== 1) fail(`${dom.scripts} script elements (the page has one)`);
  if (!dom.labels.includes(payload)) fail("the feature name is not shown as text in its label");
  if (!dom.importance.includes(payload)) fail("the feature name is not shown as text in the importance table");
  if (dom.slider !== payload) fail("the slider of the hostile feature is missing");
  if (!/<img src=y|<script>/.test(dom.status)) fail("the track name is not shown as text: " + dom.status);
  if (seen.dialogs.length) fail("a dialog opened: " + seen.dialogs.join("; "));
  if (seen.errors.length) fail("page errors: " + seen.errors.join("; "));
  if ((await violations()).length) fail("the page broke its own policy: " + (await violations()).join("; "));

  await page.screenshot({ path: shot, fullPage: true });

  // Defence in depth: markup forced into the page (as a bug would) must not run.
  await page.evaluate(() => {
    document.body.insertAdjacentHTML("beforeend",
      '<img id="forced" src="data:," onerror="window.__ran = 1"><div onclick="window.__ran = 2"></div>');
    document.querySelector("#forced + div").click();
  });
  await page.waitForTimeout(300);
  const ran = await page.evaluate(() => window.__ran);
  if (ran !== undefined) fail("an inline handler ran despite the policy: " + ran);
  const blocked = await violations();
  if (!blocked.some((v) => v.startsWith("script-src"))) fail("no script-src violation reported: " + blocked.join("; "));
  console.log(`hostile names shown as text; forced inline handlers blocked (${blocked.join("; ")})`);
} finally {
  await browser.close();
}
