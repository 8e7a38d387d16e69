// Browser test of the what-if page with the default (4-feature) models: load time, keyboard-
// only slider operation that moves a sensitivity curve and a contribution chart, the URL round
// trip, loading a neighbour, batch upload (a good and a bad file), labels, visible focus and
// WCAG AA contrast in the light and dark schemes, and screenshots of the desktop and phone
// layouts.
// Usage: node whatif.mjs http://127.0.0.1:8599/ tests/fixtures/tracks.csv target/
import { readFileSync } from "node:fs";
import { open, probabilitiesShown, checkPage, checkContrast, contrastFailures, desktopAndPhone } from "./launch.mjs";

const [url, fixture, out] = process.argv.slice(2);
const fail = (why) => { throw new Error(why); };
const { browser, page, seen, violations } = await open(url);
try {
  await probabilitiesShown(page);
  // 1. Loads and shows probabilities within a second of navigation.
  const loadMs = await page.evaluate(() => performance.now());
  if (loadMs > 1000) fail(`probabilities shown after ${loadMs.toFixed(0)} ms`);
  await page.waitForFunction(() => document.querySelectorAll("#why .contrib").length > 0 &&
    document.querySelectorAll("svg.curve polyline").length > 0 && document.querySelector("#nb-0"));

  const curve = (name) => page.evaluate((n) => [...document.querySelectorAll(`[id="c-${n}"] polyline`)].map((p) => p.getAttribute("points")).join("|"), name);
  const why = () => page.evaluate(() => document.getElementById("why").textContent);
  const before = { curve: await curve("danceability"), now: await page.evaluate(() => document.querySelector('[id="c-tempo"] line.now').getAttribute("x1")), why: await why() };

  // 2. Keyboard only: Tab to the tempo slider, then arrow keys.
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press("Tab");
    reached = await page.evaluate(() => document.activeElement?.id === "r-tempo");
  }
  if (!reached) fail("the tempo slider cannot be reached with Tab");
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  if (outline === "none") fail("the focused slider shows no focus outline");
  for (let i = 0; i < 40; i++) await page.keyboard.press("ArrowRight");
  await page.waitForFunction((b) => {
    const line = document.querySelector('[id="c-tempo"] line.now');
    return line && line.getAttribute("x1") !== b.now && document.getElementById("why").textContent !== b.why;
  }, before, { timeout: 10000 });
  // The other features' curves are drawn with tempo held at its new value: they move too.
  await page.waitForFunction(([b]) => [...document.querySelectorAll('[id="c-danceability"] polyline')].map((p) => p.getAttribute("points")).join("|") !== b, [before.curve]);
  console.log("keyboard: Tab reached the tempo slider; 40 arrow presses moved its curve marker, the danceability curves and the contribution charts");

  // Words on focus: a contribution row says its push in words.
  await page.focus("#why-forest .contrib:nth-of-type(2)");
  const words = await page.evaluate(() => document.getElementById("words-forest").textContent);
  if (!/log-odds, (pushes|pulls) the Random forest probability (up|down)/.test(words)) fail("no words on focus: " + words);

  // 3. URL round trip: choose the forest view, open the URL in a fresh page, same state.
  await page.selectOption("#view", "forest");
  await page.waitForFunction(() => location.search.includes("view=forest") && document.querySelectorAll("#why .why").length === 1);
  const cards = await page.evaluate(() => [...document.querySelectorAll(".card")].filter((c) => !c.hidden).map((c) => c.id));
  if (cards.join() !== "card-forest") fail("the forest view shows the cards " + cards.join());
  await page.waitForTimeout(200);
  const state = () => page.evaluate(() => ({
    values: [...document.querySelectorAll('input[type=number]')].map((n) => n.id + "=" + n.value),
    view: document.getElementById("view").value,
    p: ["p-logistic", "p-forest", "p-boost"].map((id) => document.getElementById(id).textContent),
  }));
  const here = await state();
  const link = await page.evaluate(() => document.getElementById("link").value);
  const second = await browser.newPage();
  await second.goto(link);
  await probabilitiesShown(second);
  await second.waitForTimeout(300);
  const there = await second.evaluate(() => ({
    values: [...document.querySelectorAll('input[type=number]')].map((n) => n.id + "=" + n.value),
    view: document.getElementById("view").value,
    p: ["p-logistic", "p-forest", "p-boost"].map((id) => document.getElementById(id).textContent),
  }));
  if (JSON.stringify(here) !== JSON.stringify(there)) fail("the link did not restore the state: " + JSON.stringify({ here, there }));
  await second.close();
  // The copy-link button puts the same link on the clipboard.
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: new URL(url).origin });
  await page.click("#copy");
  await page.waitForFunction(() => document.getElementById("status").textContent === "link copied");
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  if (copied !== link) fail(`copy link put ${copied} on the clipboard, not ${link}`);
  console.log(`url round trip: ${link.split("?")[1]} restored ${there.values.length} values, view ${there.view}, ${there.p.join(" / ")}`);
  await page.selectOption("#view", "all");

  // 4. Clicking a neighbour loads it: its features land in the sliders, so it becomes the
  // nearest track, at distance 0.
  await page.waitForFunction(() => document.querySelector("#nb-1"));
  const target = await page.evaluate(() => document.getElementById("nb-1").textContent);
  await page.focus("#nb-1");
  await page.keyboard.press("Enter");
  await page.waitForFunction((t) => document.getElementById("nb-0")?.textContent === t &&
    document.querySelector("#neighbours tr:nth-child(2) td:last-child").textContent === "0.00", target, { timeout: 10000 });
  const after = await page.evaluate(() => [document.activeElement?.id, document.getElementById("loaded").textContent]);
  if (after[0] !== "nb-1") fail("focus left the neighbour button after loading it: " + after[0]);
  if (after[1] !== "Track: " + target) fail("the loaded track is not named: " + after[1]);
  console.log(`neighbour "${target}" loaded: now the nearest, at distance 0.00`);

  // 5. Upload: a fixture is scored, sorted and downloadable; a bad file shows ingest's error.
  await page.setInputFiles("#upload", fixture);
  await page.waitForFunction(() => document.querySelectorAll("#scored tr").length > 1);
  const rows = await page.evaluate(() => document.querySelectorAll("#scored tr").length - 1);
  const lines = readFileSync(fixture, "utf8").trim().split("\n").length - 1;
  if (rows !== lines) fail(`${rows} scored rows for ${lines} tracks`);
  // A probability column sorts highest first, then lowest first on a second press.
  const column = () => page.evaluate(() => [...document.querySelectorAll("#scored tr td:nth-child(3)")].map((td) => parseFloat(td.textContent)));
  await page.click("#sort-forest");
  const down = await column();
  if (down.some((v, i) => i && v > down[i - 1])) fail("not sorted by the forest, descending: " + down.join(","));
  await page.click("#sort-forest");
  const up = await column();
  if (up.some((v, i) => i && v < up[i - 1])) fail("not sorted by the forest, ascending: " + up.join(","));
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
  const csv = readFileSync(await download.path(), "utf8");
  if (!csv.startsWith("track_id,p_logistic,p_forest,p_boost\n") || csv.trim().split("\n").length !== lines + 1) fail("bad download: " + csv.slice(0, 80));
  await page.setInputFiles("#upload", { name: "bad.csv", mimeType: "text/csv",
    buffer: Buffer.from("track_id,danceability,energy,valence,tempo\na,0.5,0.5,0.5,120\nb,0.5,0.5,0.5,abc\n") });
  await page.waitForFunction(() => document.getElementById("upload-error").textContent !== "");
  const error = await page.evaluate(() => document.getElementById("upload-error").textContent);
  if (error !== "bad.csv: row 2 (line 3), column `tempo`: `abc` is not a number") fail("upload error: " + error);
  // A Latin-1 file reaches ingest as bytes and is refused with its row, not mangled.
  await page.setInputFiles("#upload", { name: "latin1.csv", mimeType: "text/csv",
    buffer: Buffer.concat([Buffer.from("track_id,track_name,danceability,energy,valence,tempo\na,Caf"), Buffer.from([0xe9]), Buffer.from(",0.5,0.5,0.5,120\n")]) });
  await page.waitForFunction(() => document.getElementById("upload-error").textContent.startsWith("latin1.csv"));
  const latin = await page.evaluate(() => document.getElementById("upload-error").textContent);
  if (!/row 1 \(line 2\).*not valid UTF-8/.test(latin)) fail("Latin-1 upload: " + latin);
  // A semicolon file, with its separator chosen in the page.
  await page.selectOption("#delimiter", ";");
  await page.setInputFiles("#upload", { name: "semi.csv", mimeType: "text/csv",
    buffer: Buffer.from("track_id;danceability;energy;valence;tempo\na;0.5;0.5;0.5;120\nb;0.7;0.6;0.4;128\n") });
  await page.waitForFunction(() => document.querySelectorAll("#scored tr").length === 3);
  await page.selectOption("#delimiter", ",");
  console.log(`upload: ${rows} tracks scored, sorted, downloaded; bad file: ${error}`);

  // 6. Every control is labelled; contrast passes AA in both schemes. First, the checker
  // itself must catch a planted grey-on-white line (1.6:1).
  await page.evaluate(() => { const p = document.createElement("p"); p.id = "planted"; p.textContent = "planted"; p.style.color = "#ccc"; p.style.background = "#fff"; document.body.append(p); });
  if (!(await contrastFailures(page)).some((b) => b.startsWith("planted"))) fail("the contrast check missed a planted failure");
  await page.evaluate(() => document.getElementById("planted").remove());
  await checkPage(page);
  await checkContrast(page);

  // 7. Pictures: desktop and phone (no sideways scrolling on the phone).
  await desktopAndPhone(page, out + "dashboard");
  await page.emulateMedia({ colorScheme: "dark" });
  await page.setViewportSize({ width: 1200, height: 860 });
  await page.screenshot({ path: out + "dashboard-dark.png", fullPage: true });

  if (seen.errors.length) fail("page errors: " + seen.errors.join("; "));
  if (seen.dialogs.length) fail("dialogs: " + seen.dialogs.join("; "));
  const v = await violations();
  if (v.length) fail("the page broke its own Content-Security-Policy: " + v.join("; "));
  console.log(`what-if page: loaded in ${loadMs.toFixed(0)} ms; labels, focus, contrast (light, dark) and phone layout checked`);
} finally {
  await browser.close();
}
